// Shared state (issue 17): ctx.rpc.shared_state in a Lua plugin, kept in
// step with the REAL devframe 1.3 client (@vitejs/devtools-kit 0.8's
// getDevToolsRpcClient) over devframe:rpc:server-state:* and
// devframe:rpc:client-state:*, with syncId echo suppression, immer patches,
// read-only keys, trust, and reloads that keep the value.
import { openPage, closePage, frames, waitFrame } from './lib/devtools-env.mjs'
import { test, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { kitClient } from './lib/kit-client.mjs'
import { startHost, E2E_TOKEN } from './lib/host.mjs'
import { scratchDir, rawClient, deferred } from './lib/util.mjs'

const boardPlugin = (generation, { withFixed = true } = {}) => `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'board',
  setup = function(ctx)
    local board = ctx.rpc.shared_state('board:main', { initial = { count = ${generation * 100}, gen = ${generation} } })
    local live = ctx.rpc.shared_state('board:live', { initial = { n = 0, list = moonhost.array {} }, patches = true })
    ${withFixed ? "ctx.rpc.shared_state('board:fixed', { initial = { v = 1 }, readonly = true })" : ''}
    local changes = {}
    board:on_change(function(value, client) changes[#changes + 1] = { count = value.count, client = client } end)
    ctx.rpc.register { name = 'board:bump', type = 'action', handler = function()
      board:update(function(draft) draft.count = draft.count + 1 end)
      return board:get()
    end }
    ctx.rpc.register { name = 'board:changes', handler = function() return moonhost.array(changes) end }
    ctx.rpc.register { name = 'board:keys', handler = function() return ctx.rpc.shared_state_keys() end }
    ctx.rpc.register { name = 'board:gen', handler = function() return ${generation} end }
    ctx.rpc.register { name = 'board:live-edit', type = 'action', handler = function()
      live:update(function(d)
        d.n = d.n + 1
        d.list[#d.list + 1] = 'x' .. d.n
        if d.n == 1 then d.flag = true else d.flag = nil end
      end)
    end }
  end,
}
`

let host, dir
before(async () => {
  dir = scratchDir()
  writeFileSync(join(dir, 'board.lua'), boardPlugin(1))
  host = await startHost({ plugins: dir })
})
afterEach(() => closePage())
after(() => host.stop())

/** Resolves with the next value the shared state s reports where pred holds. */
function nextValue(s, pred = () => true) {
  const d = deferred()
  const off = s.on('updated', (value) => {
    if (!pred(value)) return
    off()
    d.resolve(value)
  })
  return d.promise
}

const inFrames = (m) => frames.filter((f) => f.dir === 'in' && f.msg?.m === m)

test('two real clients and the plugin share a value; a client write skips its writer and reaches on_change once', async (t) => {
  openPage(host.port)
  const a = await kitClient(t)
  const b = await kitClient(t)
  const sa = await a.sharedState.get('board:main')
  const sb = await b.sharedState.get('board:main')
  assert.deepEqual(sa.value(), { count: 100, gen: 1 })
  assert.deepEqual(sb.value(), { count: 100, gen: 1 })
  assert.deepEqual(await a.call('board:keys'), ['board:fixed', 'board:live', 'board:main', 'devframe:services'])

  // The plugin's update reaches both subscribers.
  const [ua, ub] = [nextValue(sa), nextValue(sb)]
  assert.deepEqual(await a.call('board:bump'), { count: 101, gen: 1 })
  assert.deepEqual(await ua, { count: 101, gen: 1 })
  assert.deepEqual(await ub, { count: 101, gen: 1 })

  // A writes: B gets it, on_change runs once, A gets no copy of its own write.
  const gotB = nextValue(sb, (v) => v.count === 7)
  sa.mutate((draft) => { draft.count = 7 })
  assert.deepEqual(await gotB, { count: 7, gen: 1 })
  // (Both clients sent the plugin's update back too: devframe does, with the host's syncId.)
  const write = frames.find((f) => f.dir === 'out' && f.msg?.m === 'devframe:rpc:server-state:set' && f.msg.a[1].count === 7)
  assert.deepEqual(write.msg.a.slice(0, 2), ['board:main', { count: 7, gen: 1 }])
  const syncId = write.msg.a[2]
  // B applied it and sent it back with the same syncId, which the host drops.
  await waitFrame((f) => f.dir === 'out' && f.msg?.m === 'devframe:rpc:server-state:set' && f !== write && f.msg.a[2] === syncId)
  const changes = await b.call('board:changes') // B's socket: answered after its echo was handled
  assert.equal(changes.length, 1, JSON.stringify(changes))
  assert.equal(changes[0].count, 7)
  assert.match(changes[0].client, /\S/)
  assert.equal(inFrames('devframe:rpc:client-state:updated').filter((f) => f.msg.a[2] === syncId).length, 1,
    'only B was sent the write')
  assert.deepEqual(sa.value(), { count: 7, gen: 1 })
  assert.deepEqual(await a.call('devframe:rpc:server-state:get', 'board:main'), { count: 7, gen: 1 })
})

test('a raw client sees the wire: updated to subscribers only, never its own write', async () => {
  const raw = await rawClient(host, '/__devtools/__ws?devframe_auth_token=' + E2E_TOKEN)
  const other = await rawClient(host, '/__devtools/__ws?devframe_auth_token=' + E2E_TOKEN)
  raw.send({ m: 'devframe:rpc:server-state:subscribe', a: ['board:main'], t: 'q', i: 's1' })
  assert.deepEqual(await raw.replyTo('s1'), { t: 's', i: 's1' })
  raw.send({ m: 'devframe:rpc:server-state:set', a: ['board:main', { count: 50, gen: 1 }, 'raw-1'], t: 'q', i: 'w1' })
  assert.deepEqual(await raw.replyTo('w1'), { t: 's', i: 'w1' })
  // The next state frame it gets is the plugin's update, not its own write.
  other.send({ m: 'board:bump', a: [], t: 'q', i: 'b1' })
  assert.deepEqual((await other.replyTo('b1')).r, { count: 51, gen: 1 })
  let frame
  do frame = await raw.next()
  while (frame.m !== 'devframe:rpc:client-state:updated')
  assert.equal(frame.a[0], 'board:main')
  assert.deepEqual(frame.a[1], { count: 51, gen: 1 })
  assert.notEqual(frame.a[2], 'raw-1')
  // `other` never subscribed: it got only its reply.
  other.send({ m: 'board:gen', a: [], t: 'q', i: 'g1' })
  assert.deepEqual(await other.next(), { t: 's', i: 'g1', r: 1 })
  // A write repeating a syncId the host has seen changes nothing.
  raw.send({ m: 'devframe:rpc:server-state:set', a: ['board:main', { count: -1 }, 'raw-1'], t: 'q', i: 'w2' })
  assert.deepEqual(await raw.replyTo('w2'), { t: 's', i: 'w2' })
  raw.send({ m: 'devframe:rpc:server-state:get', a: ['board:main'], t: 'q', i: 'g2' })
  assert.deepEqual((await raw.replyTo('g2')).r, { count: 51, gen: 1 })
})

test('patches mode: the real client applies the immer patches the host sends', async (t) => {
  openPage(host.port)
  const b = await kitClient(t)
  const s = await b.sharedState.get('board:live')
  assert.deepEqual(s.value(), { list: [], n: 0 })
  let next = nextValue(s)
  await b.call('board:live-edit')
  assert.deepEqual(await next, { flag: true, list: ['x1'], n: 1 })
  let [patch] = inFrames('devframe:rpc:client-state:patch')
  assert.deepEqual(patch.msg.a.slice(0, 2), ['board:live', [
    { op: 'add', path: ['list', 0], value: 'x1' },
    { op: 'replace', path: ['n'], value: 1 },
    { op: 'add', path: ['flag'], value: true }, // keys a handler adds come after the ones it had
  ]])
  next = nextValue(s)
  await b.call('board:live-edit')
  assert.deepEqual(await next, { list: ['x1', 'x2'], n: 2 })
  patch = inFrames('devframe:rpc:client-state:patch')[1]
  assert.deepEqual(patch.msg.a[1], [
    { op: 'remove', path: ['flag'] },
    { op: 'add', path: ['list', 1], value: 'x2' },
    { op: 'replace', path: ['n'], value: 2 },
  ])
  assert.equal(inFrames('devframe:rpc:client-state:updated').length, 0)
  // A client's patches apply on the host too.
  await b.call('devframe:rpc:server-state:patch', 'board:live', [{ op: 'remove', path: ['list', 0] }], 'p-1')
  assert.deepEqual(await b.call('devframe:rpc:server-state:get', 'board:live'), { list: ['x2'], n: 2 })
})

test('bad writes: read-only key, unknown key, a patch that does not fit', async () => {
  const raw = await rawClient(host, '/__devtools/__ws?devframe_auth_token=' + E2E_TOKEN)
  const call = async (i, m, a) => {
    raw.send({ m, a, t: 'q', i })
    return (await raw.replyTo(i)).e
  }
  let e = await call('r1', 'devframe:rpc:server-state:set', ['board:fixed', { v: 2 }, 'x'])
  assert.equal(e.code, 'bad_request')
  assert.match(e.message, /shared state 'board:fixed' is read-only to clients/)
  e = await call('r2', 'devframe:rpc:server-state:patch', ['board:fixed', [{ op: 'replace', path: ['v'], value: 2 }]])
  assert.equal(e.code, 'bad_request')
  e = await call('r3', 'devframe:rpc:server-state:set', ['nobody:key', 1])
  assert.equal(e.code, 'not_found')
  e = await call('r4', 'devframe:rpc:server-state:patch', ['board:live', [{ op: 'replace', path: ['no', 'such'], value: 1 }]])
  assert.equal(e.code, 'bad_request')
  assert.match(e.message, /patch 0: its path does not lead into the value/)
  e = await call('r5', 'devframe:rpc:server-state:subscribe', [42])
  assert.equal(e.code, 'bad_request')
  await host.waitForLog(/read-only to clients/)
  raw.send({ m: 'devframe:rpc:server-state:get', a: ['board:fixed'], t: 'q', i: 'r6' })
  assert.deepEqual((await raw.replyTo('r6')).r, { v: 1 })
  raw.send({ m: 'devframe:rpc:server-state:get', a: ['nobody:key'], t: 'q', i: 'r7' })
  assert.deepEqual(await raw.replyTo('r7'), { t: 's', i: 'r7' }) // undefined, as devframe answers
})

test('untrusted clients can neither read nor write nor subscribe', async () => {
  const raw = await rawClient(host, '/__devtools/__ws?no_token=1') // a query of its own: the harness adds no token
  for (const [i, m, a] of [
    ['u1', 'devframe:rpc:server-state:get', ['board:main']],
    ['u2', 'devframe:rpc:server-state:set', ['board:main', { count: 0 }, 'u']],
    ['u3', 'devframe:rpc:server-state:subscribe', ['board:main']],
    ['u4', 'devframe:rpc:server-state:patch', ['board:main', []]],
  ]) {
    raw.send({ m, a, t: 'q', i })
    assert.equal((await raw.replyTo(i)).e.code, 'unauthorized', m)
  }
})

test('a reload keeps the value of a key the new generation declares and drops the others', async () => {
  const raw = await rawClient(host, '/__devtools/__ws?devframe_auth_token=' + E2E_TOKEN)
  raw.send({ m: 'board:bump', a: [], t: 'q', i: 'b1' })
  const before = (await raw.replyTo('b1')).r
  writeFileSync(join(dir, 'board.lua'), boardPlugin(2, { withFixed: false }))
  await host.waitForLog(/\[plugin\] board: loaded \(generation 2\)/)
  raw.send({ m: 'board:gen', a: [], t: 'q', i: 'g' })
  assert.equal((await raw.replyTo('g')).r, 2)
  raw.send({ m: 'devframe:rpc:server-state:get', a: ['board:main'], t: 'q', i: 'm' })
  assert.deepEqual((await raw.replyTo('m')).r, before) // not generation 2's initial {count = 200}
  raw.send({ m: 'board:keys', a: [], t: 'q', i: 'k' })
  assert.deepEqual((await raw.replyTo('k')).r, ['board:live', 'board:main', 'devframe:services'])
  raw.send({ m: 'devframe:rpc:server-state:get', a: ['board:fixed'], t: 'q', i: 'f' })
  assert.deepEqual(await raw.replyTo('f'), { t: 's', i: 'f' })
  await host.waitForLog(/\[state\] board:fixed: dropped \(plugin board no longer declares it\)/)
})

test('a key belongs to one plugin; bad declarations fail the load with the plugin\'s line', async () => {
  writeFileSync(join(dir, 'thief.lua'), `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'thief',
  setup = function(ctx)
    ctx.rpc.shared_state('board:main', { initial = { count = 0 } })
  end,
}
`)
  const m = await host.waitForLog(/\[plugin\] thief: load failed \(([^)]*)\): (.*)/)
  assert.equal(m[1], 'rpc_method_already_registered')
  assert.match(m[2], /shared state 'board:main' belongs to plugin board/)
  writeFileSync(join(dir, 'typo.lua'), `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'typo',
  setup = function(ctx)
    ctx.rpc.shared_state('typo:x', { intial = {} })
  end,
}
`)
  const t = await host.waitForLog(/\[plugin\] typo: load failed \([^)]*\): (.*)/)
  assert.match(t[1], /typo\.lua:5: .*unknown key 'intial'.*did you mean 'initial'/)
  const raw = await rawClient(host, '/__devtools/__ws?devframe_auth_token=' + E2E_TOKEN)
  raw.send({ m: 'devframe:rpc:server-state:get', a: ['typo:x'], t: 'q', i: 'x' })
  assert.deepEqual(await raw.replyTo('x'), { t: 's', i: 'x' }) // nothing was declared
})

test('unloading the plugin drops its keys; its subscribers get nothing more', async () => {
  const raw = await rawClient(host, '/__devtools/__ws?devframe_auth_token=' + E2E_TOKEN)
  unlinkSync(join(dir, 'board.lua'))
  await host.waitForLog(/\[state\] board:main: dropped \(plugin board unloaded\)/)
  raw.send({ m: 'devframe:rpc:server-state:get', a: ['board:main'], t: 'q', i: 'g' })
  assert.deepEqual(await raw.replyTo('g'), { t: 's', i: 'g' })
  raw.send({ m: 'devframe:rpc:server-state:set', a: ['board:live', {}], t: 'q', i: 's' })
  assert.equal((await raw.replyTo('s')).e.code, 'not_found')
})
