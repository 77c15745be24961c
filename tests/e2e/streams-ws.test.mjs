// Streams over the WebSocket (issue 16): Lua stream functions read by the moonhost client
// (rpc.stream), the module imported exactly as the host serves it at /__moonhost/client.js.
// Chunks in order, typed values, final values, errors as RpcError, abort through an
// AbortSignal running the producer's cleanup, resume after a reconnect with the last event
// id, per-stream flow control (a slow reader holds back its own producer only), reload, and
// bad frames from a raw socket.
//
// Synchronisation is by chunks, replies and log lines; a stalled producer is seen to stop by
// polling its counter (bounded).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import WebSocket from 'ws'
import { hostFor, rejectionOf, tempTree, rawClient, servedClient } from './lib/util.mjs'
import { E2E_TOKEN } from './lib/host.mjs'
import { readerProject, readmeFiles, run } from './lib/readme.mjs'
import { TICKS, buildHost, drain } from './lib/ticks.mjs'

// What the WebSocket tests need beyond the ticks plugin: Map, Set and undefined chunks with a
// final value, and a stream that waits mid-way on its first run, so a test can cut the socket.
const WST = `
local moonhost = require 'moonhost'
local cleanups, froms = 0, {}

return moonhost.plugin {
  name = 'wst',
  setup = function(ctx)
    local function fn(def) ctx.rpc.register(moonhost.define_rpc_function(def)) end
    fn { name = 'wst:typed', stream = true,
      handler = function()
        return moonhost.stream(function(emit)
          emit({ at = moonhost.date(1709210096789), big = moonhost.bigint('123456789012345678901234567890') })
          emit(moonhost.map({ { 'a', moonhost.date('2024-02-29T12:34:56.789Z') }, { 2, moonhost.set({ 1, 2 }) } }))
          emit(moonhost.bigint('-42'))
          emit(moonhost.undefined)
          return moonhost.date(0)
        end)
      end }
    fn { name = 'wst:resumable', type = 'action', stream = true,
      handler = function()
        return moonhost.stream(function(emit, last_event_id)
          moonhost.on_cancel(function()
            cleanups = cleanups + 1
            ctx.log.info('resumable: cleanup ran (%d)', cleanups)
          end)
          froms[#froms + 1] = tostring(last_event_id)
          ctx.log.info('resumable: from %s', tostring(last_event_id))
          for i = (tonumber(last_event_id) or 0) + 1, 20 do
            emit({ n = i }, { id = i })
            -- The first run stops after 5 until its reader's socket is gone.
            if i == 5 and not last_event_id then moonhost.sleep(60) end
          end
          return 'all twenty'
        end)
      end }
    fn { name = 'wst:state', type = 'action',
      handler = function() return { cleanups = cleanups, froms = moonhost.array(froms) } end }
  end,
}
`

/** A ws WebSocket class that remembers its sockets, so a test can cut the client's connection. */
function cuttableSocket() {
  const sockets = []
  class CuttableWebSocket extends WebSocket {
    constructor(...args) {
      super(...args)
      sockets.push(this)
    }
  }
  return { WebSocket: CuttableWebSocket, cut: () => sockets.at(-1).terminate(), sockets }
}

async function world(t, { config } = {}) {
  const plugins = tempTree(t, { 'ticks.lua': TICKS, 'wst.lua': WST })
  const host = await hostFor(t, { plugins, config })
  await host.waitForLog(/\[plugin\] wst: loaded/)
  await host.waitForLog(/\[plugin\] ticks: loaded/)
  const mod = await servedClient(host)
  const clients = []
  t.after(async () => {
    for (const c of clients) await c.close()
  })
  const client = async (opts = {}) => {
    const c = mod.connect({ url: host.url, token: E2E_TOKEN, WebSocket, ...opts })
    clients.push(c)
    await c.ready
    return c
  }
  return { host, plugins, mod, client }
}

async function collect(it) {
  const got = []
  for await (const v of it) got.push(v)
  return got
}

test('rpc.stream reads 1000 chunks in order, then the final value', async (t) => {
  const { client } = await world(t)
  const rpc = await client()
  const it = rpc.stream('ticks:count', 1000)
  const { chunks, final } = await drain(it)
  assert.deepEqual(final, { total: 1000 }, 'the end frame carries the returned value')
  assert.deepEqual(chunks, Array.from({ length: 1000 }, (_, i) => i + 1))
  assert.deepEqual(await it.next(), { done: true, value: undefined }, 'an ended stream stays done')
  // next() called again before the last one settled: each gets the next result, in call order.
  const many = rpc.stream('ticks:count', 2)
  assert.deepEqual(await Promise.all([many.next(), many.next(), many.next(), many.next()]), [
    { done: false, value: 1 }, { done: false, value: 2 }, { done: true, value: { total: 2 } }, { done: true, value: undefined },
  ])
  // for await, with the smallest window (an ack per chunk), and the socket still serves calls.
  assert.deepEqual(await collect(rpc.streamWith({ window: 1 }, 'ticks:count', 50)), Array.from({ length: 50 }, (_, i) => i + 1))
  assert.deepEqual((await rpc.call('ticks:state')).emitted, 0)
})

test('each chunk and the final value keep their types: Date, BigInt, Map, Set, undefined', async (t) => {
  const { client } = await world(t)
  const rpc = await client()
  const { chunks: got, final } = await drain(rpc.stream('wst:typed'))
  assert.equal(got.length, 4)
  assert.ok(got[0].at instanceof Date)
  assert.equal(got[0].at.getTime(), 1709210096789)
  assert.equal(got[0].big, 123456789012345678901234567890n)
  assert.ok(got[1] instanceof Map)
  assert.equal(got[1].get('a').toISOString(), '2024-02-29T12:34:56.789Z')
  assert.deepEqual([...got[1].get(2)], [1, 2])
  assert.ok(got[1].get(2) instanceof Set)
  assert.equal(got[2], -42n)
  assert.equal(got[3], undefined)
  assert.ok(final instanceof Date)
  assert.equal(final.getTime(), 0)
})

test('a failing stream throws a typed RpcError after its chunks', async (t) => {
  const { client, mod } = await world(t)
  const rpc = await client()
  const got = []
  const err = await rejectionOf((async () => {
    for await (const v of rpc.stream('ticks:fail')) got.push(v)
  })())
  assert.deepEqual(got, [1, 2])
  assert.ok(err instanceof mod.RpcError, `expected an RpcError, got ${err}`)
  assert.equal(err.code, 'CONFLICT')
  assert.equal(err.message, 'the build broke')
  assert.deepEqual(err.data, { step: 3 })
  // Refusals before the producer runs end the stream the same way.
  const bad = await rejectionOf(collect(rpc.stream('ticks:count', 'ten')))
  assert.equal(bad.code, 'bad_request')
  assert.match(bad.message, /argument 1: expected integer, got string/)
  const missing = await rejectionOf(collect(rpc.stream('ticks:nope')))
  assert.equal(missing.code, 'not_found')
  const notStream = await rejectionOf(collect(rpc.stream('ticks:state')))
  assert.equal(notStream.code, 'bad_request')
  assert.match(notStream.message, /ticks:state is not a stream: call it/)
})

test('aborting through an AbortSignal cancels the producer and runs its cleanup', async (t) => {
  const { host, client, mod } = await world(t)
  const rpc = await client()
  const ac = new AbortController()
  const it = rpc.streamWith({ signal: ac.signal }, 'ticks:forever')
  for (let i = 1; i <= 3; i++) assert.equal((await it.next()).value.n, i)
  const pending = it.next().then(() => it.next()).then(() => it.next()).then(() => it.next())
  ac.abort()
  const err = await rejectionOf(pending)
  assert.ok(err instanceof mod.RpcError)
  assert.equal(err.code, 'rpc_cancelled')
  await host.waitForLog(/\[ticks\] forever: cleanup ran \(1\)/)
  assert.equal((await rpc.call('ticks:state')).cleanups, 1)
  // Leaving a for await early (break) cancels too.
  for await (const v of rpc.stream('ticks:forever')) if (v.n >= 2) break
  await host.waitForLog(/\[ticks\] forever: cleanup ran \(2\)/)
  // A signal aborted before the first next() sends nothing.
  const early = await rejectionOf(rpc.streamWith({ signal: AbortSignal.abort() }, 'ticks:forever').next())
  assert.equal(early.code, 'rpc_cancelled')
})

test('a stream resumes after a reconnect from its last event id, without loss or duplicates', async (t) => {
  const { host, client } = await world(t)
  const sock = cuttableSocket()
  const rpc = await client({ WebSocket: sock.WebSocket, reconnect: { initialMs: 20, maxMs: 100 } })
  const it = rpc.stream('wst:resumable')
  const got = []
  let r
  while (!(r = await it.next()).done) {
    got.push(r.value.n)
    if (r.value.n === 5) sock.cut() // the producer waits after 5: the cut is mid-stream
  }
  assert.equal(r.value, 'all twenty')
  assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i + 1))
  assert.equal(it.lastEventId, '20')
  assert.equal(sock.sockets.length, 2, 'one reconnect')
  await host.waitForLog(/\[wst\] resumable: cleanup ran \(1\)/) // the first run, cancelled with its socket
  assert.deepEqual((await rpc.call('wst:state')).froms, ['nil', '5'])
  // resume: false ends the stream at the cut instead.
  const once = rpc.streamWith({ resume: false }, 'wst:resumable')
  for (let i = 1; i <= 5; i++) assert.equal((await once.next()).value.n, i)
  const back = new Promise((resolve) => { const off = rpc.on('connect', () => { off(); resolve() }) })
  sock.cut()
  const err = await rejectionOf(once.next())
  assert.equal(err.code, 'disconnected')
  await back
  // A stream started with lastEventId starts there.
  assert.deepEqual((await collect(rpc.streamWith({ lastEventId: '18' }, 'wst:resumable'))).map((v) => v.n), [19, 20])
})

/** Polls ticks:state until emitted stays the same for `calm` polls in a row. */
async function settledCount(rpc, calm = 15) {
  let last = -1
  let same = 0
  for (let i = 0; i < 2000 && same < calm; i++) {
    const { emitted } = await rpc.call('ticks:state')
    same = emitted === last ? same + 1 : 0
    last = emitted
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  assert.equal(same, calm, 'the producer stopped')
  return last
}

test('a reader that stops reading holds back its own producer only (window and bytes)', { timeout: 60000 }, async (t) => {
  const { host, client } = await world(t)
  const slow = await client()
  const other = await client()
  // A window of 8 chunks: the producer stops once 8 are unacked.
  const it = slow.streamWith({ window: 8 }, 'ticks:forever', 10)
  assert.equal((await it.next()).value.n, 1)
  const stalled = await settledCount(other)
  assert.equal(stalled, 8, 'the producer waits with a window of chunks out')
  // Meanwhile the other client's calls and streams are served.
  assert.deepEqual(await collect(other.stream('ticks:count', 100)), Array.from({ length: 100 }, (_, i) => i + 1))
  // Reading again lets the producer go on.
  for (let i = 2; i <= 40; i++) assert.equal((await it.next()).value.n, i)
  assert.ok((await other.call('ticks:state')).emitted > 40)
  await it.return()
  await host.waitForLog(/\[ticks\] forever: cleanup ran \(1\)/)
  // Big chunks: the byte bound (limits.stream_queue_bytes, 64 KiB) stops it before the window.
  const big = slow.streamWith({ window: 1024 }, 'ticks:forever', 10000)
  const before = (await other.call('ticks:state')).emitted
  assert.ok((await big.next()).value.n > before)
  const after = await settledCount(other)
  assert.ok(after - before <= 65536 / 10000 + 2, `at most the bound plus one chunk unacked (${after - before})`)
  console.log(`[streams-ws] a stalled reader stopped its producer after 8 chunks (window 8), ` +
    `and after ${after - before} chunks of 10 kB (window 1024, 64 KiB bound)`)
  await big.return()
  await host.waitForLog(/\[ticks\] forever: cleanup ran \(2\)/)
})

test('a reload ends the old version\'s streams with rpc_cancelled and their cleanups', async (t) => {
  const { host, plugins, client, mod } = await world(t)
  const rpc = await client()
  const it = rpc.stream('ticks:forever')
  assert.equal((await it.next()).value.n, 1)
  writeFileSync(join(plugins, 'ticks.lua'), readFileSync(join(plugins, 'ticks.lua'), 'utf8') + '\n-- v2\n')
  await host.waitForLog(/\[plugin\] ticks: loaded \(generation 2\)/)
  const err = await rejectionOf((async () => { for (;;) if ((await it.next()).done) return })())
  assert.ok(err instanceof mod.RpcError, `expected an RpcError, got ${err}`)
  assert.equal(err.code, 'rpc_cancelled')
  assert.match(err.message, /this version of the plugin was replaced or unloaded/)
  await host.waitForLog(/\[ticks\] forever: cleanup ran \(1\)/)
})

test('the frames on the wire, and bad ones answered clearly while the host keeps serving', async (t) => {
  const { host } = await world(t)
  const raw = await rawClient(host)
  raw.send({ t: 'q', i: 'a', m: 'ticks:count', a: [2], s: { w: 4 } })
  assert.equal(await raw.nextText(), '{"t":"d","i":"a","p":{"json":1}}')
  assert.equal(await raw.nextText(), '{"t":"d","i":"a","p":{"json":2}}')
  assert.equal(await raw.nextText(), '{"t":"e","i":"a","p":{"json":{"total":2}}}')
  raw.send({ t: 'q', i: 'b', m: 'wst:resumable', a: [], s: { l: '18' } })
  assert.equal(await raw.nextText(), '{"t":"d","i":"b","p":{"json":{"n":19}},"l":"19"}')
  assert.equal(await raw.nextText(), '{"t":"d","i":"b","p":{"json":{"n":20}},"l":"20"}')
  assert.equal(await raw.nextText(), '{"t":"e","i":"b","p":{"json":"all twenty"}}')

  // An ack for no stream in flight.
  raw.send({ t: 'a', i: 'zzz', n: 1 })
  let m = await raw.replyTo('zzz')
  assert.equal(m.e.code, 'bad_request')
  assert.match(m.e.message, /ack for no stream in flight/)
  // An ack for more chunks than were sent ends that stream (and runs its cleanup).
  raw.send({ t: 'q', i: 'c', m: 'ticks:forever', a: [], s: { w: 2 } })
  assert.equal((await raw.next()).t, 'd')
  raw.send({ t: 'a', i: 'c', n: 100 })
  m = await raw.replyTo('c')
  while (m.t === 'd') m = await raw.replyTo('c')
  assert.equal(m.t, 's')
  assert.equal(m.e.code, 'bad_request')
  assert.match(m.e.message, /ack of 100 chunks, but [12] were sent and not acked/)
  await host.waitForLog(/\[ticks\] forever: cleanup ran \(1\)/)
  // A malformed ack count ends its stream too.
  raw.send({ t: 'q', i: 'd', m: 'ticks:forever', a: [], s: true })
  assert.equal((await raw.next()).t, 'd')
  raw.send({ t: 'a', i: 'd', n: -1 })
  m = await raw.replyTo('d')
  while (m.t === 'd') m = await raw.replyTo('d')
  assert.match(m.e.message, /ack field 'n' must be a positive integer/)
  await host.waitForLog(/\[ticks\] forever: cleanup ran \(2\)/)
  // Cancel twice: the first ends the stream (rpc_cancelled), the second is ignored and logged.
  raw.send({ t: 'q', i: 'e', m: 'ticks:forever', a: [], s: {} })
  assert.equal((await raw.next()).t, 'd')
  raw.send({ t: 'c', i: 'e' })
  m = await raw.replyTo('e')
  while (m.t === 'd') m = await raw.replyTo('e')
  assert.equal(m.e.code, 'rpc_cancelled')
  await host.waitForLog(/\[ticks\] forever: cleanup ran \(3\)/)
  raw.send({ t: 'c', i: 'e' })
  await host.waitForLog(/cancel for no call in flight ignored/)
  // Bad options, and "s" on what is not a stream: refused before anything runs.
  for (const [s, why] of [
    [{ w: 0 }, /stream option 'w' \(window\) must be an integer from 1 to 1024/],
    [{ w: 1025 }, /stream option 'w' \(window\) must be an integer from 1 to 1024/],
    [{ l: 5 }, /stream option 'l' \(last event id\) must be a string/],
    [{ l: 'x'.repeat(1024) }, /stream option 'l' \(last event id\) is longer than 1023 bytes/],
    ['yes', /envelope field 's' \(stream\) must be true or an object/],
  ]) {
    raw.send({ t: 'q', i: 'f', m: 'ticks:forever', a: [], s })
    m = await raw.replyTo('f')
    assert.equal(m.e.code, 'bad_request')
    assert.match(m.e.message, why)
  }
  raw.send({ t: 'q', m: 'ticks:forever', a: [], s: {} }) // an event: nobody to answer
  await host.waitForLog(/stream ticks:forever refused: a stream request needs an id \('i'\): ticks:forever was not called/)
  raw.send({ t: 'q', i: 'g', m: 'ticks:state', a: [], s: {} })
  assert.match((await raw.replyTo('g')).e.message, /ticks:state is not a stream: call it/)
  // A plain birpc call of a stream is refused, naming both ways to read it.
  raw.send({ t: 'q', i: 'h', m: 'ticks:forever', a: [] })
  m = await raw.replyTo('h')
  assert.equal(m.e.code, 'bad_request')
  assert.match(m.e.message, /ticks:forever is a stream: read it over HTTP, as an oRPC event iterator .* or with the moonhost client's rpc.stream/)
  raw.send({ t: 'q', i: 'y', m: 'ticks:state', a: [] })
  assert.equal((await raw.replyTo('y')).r.cleanups, 3, 'the host keeps serving, and no refused stream ran')
  raw.send({ t: 'q', i: 'z', m: 'wst:state', a: [] })
  assert.deepEqual((await raw.replyTo('z')).r.froms, ['18'])
})

test('README: the stream example runs as written against the served client', async (t) => {
  const host = await buildHost(t)
  const example = readmeFiles('The moonhost JavaScript client')['stream-demo.mjs']
  assert.ok(example, 'the README shows stream-demo.mjs')
  const dir = readerProject() // node_modules: the e2e packages (ws)
  writeFileSync(join(dir, 'moonhost-client.mjs'), await (await fetch(`http://127.0.0.1:${host.port}/__moonhost/client.js`)).text())
  writeFileSync(join(dir, 'stream-demo.mjs'), example.replace("from 'moonhost-client'", "from './moonhost-client.mjs'"))
  const out = await run('node', ['stream-demo.mjs'], {
    cwd: dir, env: { ...process.env, MOONHOST_WS_URL: host.url, MOONHOST_TOKEN: E2E_TOKEN },
  })
  assert.deepEqual(out.trim().split('\n'), ['step 1 3', 'step 2 3', 'step 3 3', 'resumed at 3', 'final built'])
})
