// Values keep their shape through Lua: an object keeps the key order the
// client sent, keys added in Lua follow in byte order, and an object a
// plugin builds comes out sorted, the same on every run; a URL stays a URL
// where the codec can say so (oRPC). Checked with every codec's real
// client: birpc (JSON), structured-clone records and devframe's "s:" form
// (structured-clone-es), and oRPC over HTTP (@orpc/client).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parse, stringify } from 'structured-clone-es'
import { createORPCClient } from '@orpc/client'
import { RPCLink } from '@orpc/client/fetch'
import { hostFor, tempTree, rejectionOf } from './lib/util.mjs'
import { E2E_TOKEN, nextMessage } from './lib/host.mjs'

const PLUGIN = `local moonhost = require 'moonhost'
local kept
return moonhost.plugin { name = 'shape', setup = function(ctx)
  local function reg(name, handler) ctx.rpc.register(moonhost.define_rpc_function { name = name, handler = handler }) end
  reg('shape:echo', function(v) return v end)
  -- removes n, adds two keys (in the opposite of their byte order), replaces s
  reg('shape:edit', function(v) v.n = nil; v.zeta = 1; v.alpha = 2; v.s = 'changed'; return v end)
  reg('shape:build', function()
    return { zeta = 1, beta = { y = 1, x = 2 }, alpha = 3, Z = 4, ['\\u{e9}'] = 5, a10 = 6, a9 = 7 }
  end)
  -- a copy made in Lua is a new table: sorted like any object the plugin builds
  reg('shape:copy', function(v) local t = {} for k, x in pairs(v) do t[k] = x end return t end)
  reg('shape:keep', function(v) kept = v end)
  reg('shape:kept', function() return kept end)
  reg('shape:url_info', function(u)
    return { is_url = getmetatable(u) == moonhost.URL, lua_type = type(u), text = tostring(u) }
  end)
  reg('shape:make_url', function(href) return { link = moonhost.url(href), n = 1 } end)
  reg('shape:bad_url', function() return setmetatable({ href = 'no scheme' }, moonhost.URL) end)
end }
`

const SENT = { s: 'text', n: 1, o: { z: true, a: [1, { m: 1, b: 2 }], k: null } }
const BUILT = ['Z', 'a10', 'a9', 'alpha', 'beta', 'zeta', 'é']

/** Every object's keys, depth first: the shape deepEqual does not see. */
function keysOf(v) {
  if (Array.isArray(v)) return v.map(keysOf)
  if (v && typeof v === 'object') return Object.entries(v).map(([k, x]) => [k, keysOf(x)])
  return null
}

function assertShape(got, want) {
  assert.deepEqual(got, want)
  assert.deepEqual(keysOf(got), keysOf(want), `key order: ${JSON.stringify(got)}`)
}

async function checkAll(call) {
  assertShape(await call('shape:echo', SENT), SENT)
  assertShape(await call('shape:edit', { s: 'x', n: 1, m: 2 }), { s: 'changed', m: 2, alpha: 2, zeta: 1 })
  const built = await call('shape:build')
  assert.deepEqual(Object.keys(built), BUILT)
  assert.deepEqual(Object.keys(built.beta), ['x', 'y'])
  assert.deepEqual(Object.keys(await call('shape:copy', { b: 1, c: 2, a: 3 })), ['a', 'b', 'c'])
  // more keys than the host matches pairwise (16): the sorted path
  const big = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${(i * 7919) % 40}`, i]))
  assertShape(await call('shape:echo', { ...big, n: 0, s: 's' }), { ...big, n: 0, s: 's' })
  assertShape(await call('shape:edit', { s: 'x', ...big, n: 0 }), { s: 'changed', ...big, alpha: 2, zeta: 1 })
  await call('shape:keep', { later: 1, earlier: 2 })
  assertShape(await call('shape:kept'), { later: 1, earlier: 2 })
}

async function shapeHost(t) {
  return hostFor(t, { plugins: tempTree(t, { 'shape.lua': PLUGIN }) })
}

test('JSON (birpc): objects keep the client\'s key order through Lua; Lua-built ones are sorted', async (t) => {
  const host = await shapeHost(t)
  const c = await host.connect()
  await checkAll((name, ...args) => c.rpc[name](...args))
})

for (const codec of [{ name: 'structured-clone records', prefix: '' }, { name: 'devframe s:', prefix: 's:' }]) {
  test(`${codec.name}: the same key order`, async (t) => {
    const host = await shapeHost(t)
    const ws = await host.rawSocket()
    let id = 0
    await checkAll(async (name, ...args) => {
      const reply = nextMessage(ws)
      const i = `k${++id}`
      ws.send(codec.prefix + stringify({ t: 'q', i, m: name, a: args }))
      const frame = await reply
      assert.ok(codec.prefix ? frame.startsWith('s:') : frame[0] === '[', frame)
      const r = parse(frame.slice(codec.prefix.length))
      assert.equal(r.i, i)
      assert.equal(r.e, undefined, JSON.stringify(r.e))
      return r.r
    })
  })
}

test('oRPC over HTTP (@orpc/client): the same key order', async (t) => {
  const host = await shapeHost(t)
  const client = createORPCClient(new RPCLink({
    url: `http://127.0.0.1:${host.port}/rpc`,
    headers: { authorization: `Bearer ${E2E_TOKEN}` },
  }))
  await checkAll((name, arg) => client.shape[name.slice('shape:'.length)](arg))
})

test('a plugin\'s objects come out in the same order from two hosts', async (t) => {
  // Lua seeds its string hashes per state: two hosts differ in hash order, not in output.
  const texts = []
  for (let i = 0; i < 2; i++) {
    const host = await shapeHost(t)
    const raw = await host.rawSocket()
    const reply = nextMessage(raw)
    raw.send(JSON.stringify({ t: 'q', i: 1, m: 'shape:build', a: [] }))
    texts.push(await reply)
  }
  assert.equal(texts[0], texts[1])
  assert.match(texts[0], /"r":\{"Z":4,"a10":6,"a9":7,"alpha":3,"beta":\{"x":2,"y":1\},"zeta":1,"é":5\}/)
})

const HREF = 'https://example.com/a/b?q=1&r=%C3%A9#frag'

function orpcClient(host) {
  return createORPCClient(new RPCLink({
    url: `http://127.0.0.1:${host.port}/rpc`,
    headers: { authorization: `Bearer ${E2E_TOKEN}` },
  }))
}

test('oRPC (@orpc/client): a URL reaches Lua as moonhost.URL and comes back as a URL', async (t) => {
  const host = await shapeHost(t)
  const client = orpcClient(host)
  const back = await client.shape.echo(new URL(HREF))
  assert.ok(back instanceof URL, `got ${typeof back}: ${back}`)
  assert.equal(back.href, HREF)
  assert.deepEqual(await client.shape.url_info(new URL(HREF)), { is_url: true, lua_type: 'table', text: HREF })
  const inside = await client.shape.echo({ z: new URL('http://a.test/'), a: [new URL('ftp://b.test/x')] })
  assert.deepEqual(Object.keys(inside), ['z', 'a'])
  assert.ok(inside.z instanceof URL && inside.a[0] instanceof URL)
  assert.equal(inside.a[0].href, 'ftp://b.test/x')
  const made = await client.shape.make_url('mailto:someone@example.com')
  assert.ok(made.link instanceof URL)
  assert.equal(made.link.href, 'mailto:someone@example.com')
  assert.deepEqual(Object.keys(made), ['link', 'n'])
})

test('oRPC: a URL mark on a string without a scheme is refused with 400', async (t) => {
  const host = await shapeHost(t)
  const res = await fetch(`http://127.0.0.1:${host.port}/rpc/shape/echo`, {
    method: 'POST',
    headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ json: 'not/a/url', meta: [[4]] }),
  })
  assert.equal(res.status, 400)
  const body = await res.json()
  assert.equal(body.json.code, 'BAD_REQUEST')
  assert.match(body.json.message, /type 4 \(url\) expects an absolute URL string/)
})

test('JSON and structured-clone carry no URL: a client\'s URL arrives as its href, a Lua URL leaves as one', async (t) => {
  const host = await shapeHost(t)
  const c = await host.connect()
  // birpc serializes with JSON.stringify, which writes a URL as its href
  assert.deepEqual(await c.rpc['shape:url_info'](new URL(HREF)), { is_url: false, lua_type: 'string', text: HREF })
  assert.deepEqual(await c.rpc['shape:make_url']('https://x.test/'), { link: 'https://x.test/', n: 1 })
  for (const prefix of ['', 's:']) {
    const ws = await host.rawSocket()
    const ask = async (m, a) => {
      const reply = nextMessage(ws)
      ws.send(prefix + stringify({ t: 'q', i: 1, m, a }))
      return parse((await reply).slice(prefix.length)).r
    }
    assert.deepEqual(await ask('shape:url_info', [new URL(HREF)]), { is_url: false, lua_type: 'string', text: HREF })
    assert.deepEqual(await ask('shape:make_url', ['https://x.test/']), { link: 'https://x.test/', n: 1 })
  }
  const err = await rejectionOf(c.rpc['shape:bad_url']())
  assert.equal(err.code, 'internal')
  assert.match(err.message, /moonhost\.URL whose href is not an absolute URL/)
})
