// Values keep their shape through Lua: an object keeps the key order the
// client sent, keys added in Lua follow in byte order, and an object a
// plugin builds comes out sorted, the same on every run. Checked with every
// codec's real client: birpc (JSON), structured-clone records and devframe's
// "s:" form (structured-clone-es), and oRPC over HTTP (@orpc/client).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parse, stringify } from 'structured-clone-es'
import { createORPCClient } from '@orpc/client'
import { RPCLink } from '@orpc/client/fetch'
import { hostFor, tempTree } from './lib/util.mjs'
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
