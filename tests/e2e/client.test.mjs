// The moonhost client (npm/moonhost-client/client.js) against a real host: the module is
// fetched from the running host (/__moonhost/client.js) and imported, so these
// tests prove the file the host serves. Wire details are checked through a
// WebSocket subclass that records every frame the client sends.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execFile } from 'node:child_process'
import WebSocket from 'ws'
import { startHost, E2E_TOKEN } from './lib/host.mjs'
import { rawClient, rejectionOf, configDir, scratchDir, fixedPort, servedClient } from './lib/util.mjs'

/** The served client.js, checked to be served as JavaScript. */
function loadClient(host) {
  return servedClient(host, (res) => {
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type'), /^text\/javascript/)
  })
}

/** A ws WebSocket class that records the frames (parsed) and URLs it is used with. */
function spySocket() {
  const sent = []
  const urls = []
  class SpyWebSocket extends WebSocket {
    constructor(url, ...rest) {
      super(url, ...rest)
      urls.push(url)
    }
    send(data, ...rest) {
      sent.push(JSON.parse(data))
      return super.send(data, ...rest)
    }
  }
  return { WebSocket: SpyWebSocket, sent, urls }
}

/**
 * Per-test world: hosts and clients, all stopped (clients first) when the
 * test ends. world.host(opts) starts a host (opts.port: on that port);
 * world.client(opts) connects a client to world's current host by default.
 */
async function world(t) {
  const cleanups = [] // clients first, then hosts; every one runs even if another throws
  t.after(async () => {
    const errors = []
    for (const fn of [...cleanups.filter((c) => c.client), ...cleanups.filter((c) => !c.client)]) {
      await fn().catch((e) => errors.push(e))
    }
    if (errors.length) throw errors[0]
  })
  const w = {
    mod: null,
    current: null,
    async host({ port, config, ...opts } = {}) {
      const args = port ? ['--listen', `127.0.0.1:${port}`] : []
      const host = await startHost({ ...opts, config, args: [...args, ...(opts.args || [])] })
      cleanups.push(() => host.stop())
      w.current = host
      if (!w.mod) w.mod = await loadClient(host)
      return host
    },
    client({ url, ...opts } = {}) {
      const spy = spySocket()
      const rpc = w.mod.connect({ url: url ?? w.current.url, token: E2E_TOKEN, WebSocket: spy.WebSocket, ...opts })
      cleanups.push(Object.assign(() => rpc.close(), { client: true }))
      return Object.assign(rpc, { sent: spy.sent, urls: spy.urls })
    },
  }
  return w
}

/** The next `type` event of the client ('connect', 'disconnect'). */
function next(rpc, type) {
  return new Promise((res) => {
    const off = rpc.on(type, (info) => {
      off()
      res(info)
    })
  })
}

/** Quick reconnects for tests that restart the host. */
const fast = { initialMs: 10, maxMs: 100 }

/** The frames the client sent for requests to `name`. */
const requestsTo = (rpc, name) => rpc.sent.filter((f) => f.t === 'q' && f.m === name)

test('the host serves client.js and client.d.ts; the served module exports connect, RpcError and the error codes', async (t) => {
  const w = await world(t)
  const host = await w.host()
  const dts = await fetch(`http://127.0.0.1:${host.port}/__moonhost/client.d.ts`)
  assert.equal(dts.status, 200)
  assert.match(await dts.text(), /export declare function connect\(options\?: ConnectOptions\): MoonhostClient/)
  const { connect, RpcError, ERROR_CODES } = w.mod
  assert.equal(typeof connect, 'function')
  const err = new RpcError('not_found', 'x', { a: 1 })
  assert.ok(err instanceof Error)
  assert.equal(err.name, 'RpcError')
  assert.deepEqual([err.code, err.data], ['not_found', { a: 1 }])
  for (const code of ['not_found', 'bad_request', 'unauthorized', 'too_large', 'rpc_timeout', 'rpc_cancelled',
    'rpc_method_already_registered', 'overloaded', 'internal', 'buffer_overflow', 'disconnected']) {
    assert.ok(ERROR_CODES.includes(code), code)
  }
  // Node 20 has no global WebSocket: the client says what to pass.
  if (!globalThis.WebSocket) assert.throws(() => connect({ url: host.url }), /pass connect\(\{ WebSocket \}\)/)
})

// What a TypeScript user writes; @ts-expect-error lines prove the types refuse mistakes.
const typeUsage = `
import { connect, RpcError, type TryResult, type RpcErrorCode } from './client.js'
type Fns = {
  'demo:add': (a: number, b: number) => number
  'demo:greet': (name: string) => Promise<string>
  'deep:er:x': () => { n: number }
  plain: () => boolean
}
const rpc = connect({ url: 'ws://127.0.0.1:7812/__ws', token: 't', onDisconnect: 'pause', reconnect: { initialMs: 10 } })
connect({ WebSocket, reconnect: false, bufferLimitBytes: 1, maxMessageBytes: 0, timeoutMs: 5 })
export async function main() {
  const t = rpc.typed<Fns>()
  const a: number = await t['demo:add'](1, 2)
  const b: number = await t.demo.add(1, 2)
  const g: string = await t.demo.greet('x')
  const n: number = (await t.deep.er.x()).n
  const p: boolean = await t.plain()
  // @ts-expect-error wrong argument type
  await t.demo.add('1', 2)
  // @ts-expect-error unknown function
  await t.demo.nope()
  // @ts-expect-error the result is a number
  const s: string = await t['demo:add'](1, 2)
  const r: TryResult<number> = await rpc.tryCall<number>('demo:add', 1, 2)
  const v: number | RpcErrorCode = r.ok ? r.value : (r.error.code as RpcErrorCode)
  await rpc.typed()['anything:goes'](1, 2, 3)
  await rpc.callWith({ timeoutMs: 5, signal: new AbortController().signal }, 'x')
  const off: () => void = rpc.register({ name: 'c:f', handler: (x: number) => x * 2 })
  rpc.register({ name: 'c:w', handler: function () { return this.signal.aborted } })
  rpc.register({ name: 'c:e', type: 'event', handler: function () { const who: string | undefined = this.identity?.from.id; return who } })
  rpc.on('event', (name, args) => [name.length, args.length])
  rpc.on('connect', ({ reconnected }) => !reconnected)
  rpc.on('disconnect', ({ code, reason }) => code + reason)
  // @ts-expect-error no such event
  rpc.on('nope', () => {})
  const sent: boolean = rpc.event('x', 1)
  try { await rpc.call('x') } catch (e) { if (e instanceof RpcError) void [e.code, e.data] }
  await rpc.ready
  const st: 'connecting' | 'open' | 'reconnecting' | 'closed' = rpc.status
  await rpc.close()
  return [a, b, g, n, p, s, v, off, sent, st]
}
`

test('the served client.d.ts type-checks real usage (typed<Fns>() included) with tsc --strict', async (t) => {
  const tsc = fileURLToPath(new URL('./node_modules/typescript/bin/tsc', import.meta.url))
  if (!existsSync(tsc)) return t.skip('typescript is not installed (npm ci in tests/e2e)')
  const w = await world(t)
  const host = await w.host()
  const dir = scratchDir('moonhost-types-')
  for (const name of ['client.js', 'client.d.ts']) {
    writeFileSync(join(dir, name), await (await fetch(`http://127.0.0.1:${host.port}/__moonhost/${name}`)).text())
  }
  writeFileSync(join(dir, 'use.ts'), typeUsage)
  const args = [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--lib', 'es2022,dom', join(dir, 'use.ts')]
  const out = await new Promise((res) => execFile(process.execPath, args, (err, stdout, stderr) => res({ code: err ? err.code : 0, text: stdout + stderr })))
  assert.equal(out.code, 0, out.text)
})

test('call, callWith, typed() and tryCall send birpc request envelopes with unique string ids and the token in the URL', async (t) => {
  const w = await world(t)
  await w.host()
  const rpc = w.client()
  assert.equal(rpc.status, 'connecting') // connect() returns at once
  assert.equal(await rpc.call('sem:add', 2, 3), 5) // buffered until the socket opened
  assert.equal(rpc.status, 'open')
  await rpc.ready
  assert.equal(new URL(rpc.urls[0]).searchParams.get('token'), E2E_TOKEN)

  assert.equal(await rpc.callWith({ timeoutMs: 5000 }, 'sem:add', 10, -4), 6)
  assert.deepEqual(await rpc.call('sem:echo', 'a', null, { b: [1, 2] }), ['a', null, { b: [1, 2] }])
  assert.deepEqual(await rpc.call('sem:echo'), [])
  const typed = rpc.typed()
  assert.equal(await typed['sem:add'](1, 2), 3)
  assert.equal(await typed.sem.add(4, 5), 9)
  assert.equal(typed.then, undefined, 'the proxy is not thenable')

  assert.deepEqual(await rpc.tryCall('sem:add', 1, 1), { ok: true, value: 2, error: undefined, reconnected: false })
  const failed = await rpc.tryCall('sem:nope')
  assert.equal(failed.ok, false)
  assert.ok(failed.error instanceof w.mod.RpcError)
  assert.equal(failed.error.code, 'not_found')
  assert.equal(failed.reconnected, false)

  const adds = requestsTo(rpc, 'sem:add')
  assert.deepEqual(adds[0], { t: 'q', i: adds[0].i, m: 'sem:add', a: [2, 3] })
  const ids = rpc.sent.filter((f) => f.i !== undefined).map((f) => f.i)
  assert.ok(ids.every((i) => typeof i === 'string'))
  assert.equal(new Set(ids).size, ids.length, 'ids are unique')
})

test('event() sends an envelope without id and gets no reply; its effect is visible to the next call', async (t) => {
  const w = await world(t)
  await w.host()
  const rpc = w.client()
  await rpc.ready
  assert.equal(rpc.event('sem:record', { n: 1 }), true)
  assert.equal(rpc.event('sem:record', 'second'), true)
  // Frames are handled in order, so the events ran before this call.
  assert.deepEqual(await rpc.call('sem:recorded'), { count: 2, last: 'second' })
  const ev = requestsTo(rpc, 'sem:record')
  assert.deepEqual(ev[0], { t: 'q', m: 'sem:record', a: [{ n: 1 }] })
  assert.ok(!('i' in ev[0]))
})

test('register(): the host calls client functions, gets results and typed errors; unknown names answer not_found', async (t) => {
  const w = await world(t)
  await w.host()
  const rpc = w.client()
  rpc.register({ name: 'c:double', type: 'query', handler: async (x) => x * 2 })
  rpc.register({
    name: 'c:refuse',
    handler: () => {
      throw Object.assign(new Error('no thanks'), { code: 'unauthorized', data: { why: 'test' } })
    },
  })
  rpc.register({ name: 'c:throws', handler: () => { throw new TypeError('plain throw') } })
  const off = rpc.register({ name: 'c:gone', handler: () => 'here' })

  assert.deepEqual(await rpc.call('sem:ask_client', 'c:double', 21), { ok: true, value: 42 })
  assert.deepEqual(await rpc.call('sem:ask_client', 'c:refuse'), {
    ok: false,
    error: { code: 'unauthorized', message: 'no thanks', name: 'Error', data: { why: 'test' } },
  })
  const thrown = await rpc.call('sem:ask_client', 'c:throws')
  assert.deepEqual(thrown.error, { code: 'internal', message: 'plain throw', name: 'TypeError' })
  assert.deepEqual(await rpc.call('sem:ask_client', 'c:gone'), { ok: true, value: 'here' })
  off()
  const gone = await rpc.call('sem:ask_client', 'c:gone')
  assert.equal(gone.error.code, 'not_found')
  assert.equal(gone.error.message, '[birpc] function "c:gone" not found')

  const dup = (() => {
    try {
      rpc.register({ name: 'c:double', handler: () => 0 })
    } catch (e) {
      return e
    }
  })()
  assert.ok(dup instanceof w.mod.RpcError)
  assert.equal(dup.code, 'rpc_method_already_registered')
})

test('a client function sees this.signal aborted when the socket drops, and answers again after the reconnect', async (t) => {
  const w = await world(t)
  const port = await fixedPort()
  const host1 = await w.host({ port })
  const rpc = w.client({ reconnect: fast })
  let started
  const startedP = new Promise((res) => (started = res))
  let aborted
  const abortedP = new Promise((res) => (aborted = res))
  rpc.register({
    name: 'c:wait',
    handler: function () {
      started()
      return new Promise((res) => this.signal.addEventListener('abort', () => res(aborted('aborted'))))
    },
  })
  rpc.register({ name: 'c:quick', handler: function () { return this.signal.aborted ? 'aborted?' : 'quick' } })
  await rpc.ready
  const asking = rejectionOf(rpc.call('sem:ask_client', 'c:wait'))
  await startedP
  host1.child.kill('SIGKILL')
  assert.equal(await abortedP, 'aborted')
  assert.equal((await asking).code, 'disconnected')
  await host1.exited
  const back = next(rpc, 'connect')
  await w.host({ port })
  await back
  // The host numbers its calls to a new socket from s1 again: nothing left over answers them.
  assert.deepEqual(await rpc.call('sem:ask_client', 'c:quick'), { ok: true, value: 'quick' })
})

test("broadcasts reach registered client functions and on('event'); unregistered optional events are ignored", async (t) => {
  const w = await world(t)
  const host = await w.host()
  const rpc = w.client()
  const events = []
  rpc.on('event', (name, args) => events.push([name, args]))
  const got = []
  const noted = new Promise((res) => rpc.register({ name: 'c:note', handler: (...args) => res(got.push(args)) }))
  await rpc.ready
  assert.equal(await rpc.call('sem:broadcast', 'c:unknown', 1), 1)
  assert.equal(await rpc.call('sem:broadcast', 'c:note', 'hello', { x: 1 }), 1)
  await noted
  assert.deepEqual(got, [['hello', { x: 1 }]])
  assert.deepEqual(events, [['c:unknown', [1]], ['c:note', ['hello', { x: 1 }]]])
  // Nothing was sent back for the events, and the client still works.
  assert.ok(rpc.sent.every((f) => f.t === 'q'))
  assert.equal(await rpc.call('sem:add', 1, 1), 2)
  assert.doesNotMatch(host.log, /reply to unknown call/)
})

test('error codes the host sends reach the caller as RpcError with code (and data): not_found, bad_request, internal, rpc_timeout', async (t) => {
  const w = await world(t)
  const host = await w.host()
  const rpc = w.client()
  const { RpcError } = w.mod

  const nf = await rejectionOf(rpc.call('sem:nope', 1))
  assert.ok(nf instanceof RpcError)
  assert.equal(nf.code, 'not_found')
  assert.equal(nf.message, '[birpc] function "sem:nope" not found')

  const bad = await rejectionOf(rpc.call('sem:fail', 'id must be a number'))
  assert.equal(bad.code, 'bad_request')
  assert.equal(bad.message, 'id must be a number')
  assert.deepEqual(bad.data, { field: 'message', hint: 'this error is on purpose' })

  // A lone surrogate serialises to JSON the host refuses (it is not valid
  // UTF-8): a bad_request reply with our id, and the socket stays usable.
  const surrogate = await rejectionOf(rpc.call('sem:echo', 'x\ud800y'))
  assert.equal(surrogate.code, 'bad_request')
  assert.equal(rpc.status, 'open')

  // A malformed frame on another socket gets bad_request there; our client is unaffected.
  const raw = await rawClient(host)
  raw.send('{"t":"q","i":"raw-1","m":')
  const rawReply = await raw.next()
  assert.equal(rawReply.e.code, 'bad_request')
  assert.equal(await rpc.call('sem:add', 5, 5), 10)

  const internal = await rejectionOf(rpc.call('sem:explode'))
  assert.equal(internal.code, 'internal')
  assert.match(internal.message, /sem exploded on purpose/)

  // Host-side rpc_timeout: the handler ran past its instruction budget (or lua.max_run_ms).
  const spun = await rejectionOf(rpc.call('sem:spin'))
  assert.equal(spun.code, 'rpc_timeout')
})

test('a client without token gets unauthorized for every call but anonymous:*, and can become trusted through the handshake', async (t) => {
  const w = await world(t)
  await w.host()
  const rpc = w.client({ token: undefined })
  const err = await rejectionOf(rpc.call('sem:add', 1, 2))
  assert.equal(err.code, 'unauthorized')
  assert.equal(new URL(rpc.urls[0]).searchParams.has('token'), false)
  assert.equal((await rpc.tryCall('moonhost:stats')).error.code, 'unauthorized')
  assert.deepEqual(await rpc.call('anonymous:devframe:auth', { authToken: 'wrong' }), { isTrusted: false })
  assert.equal((await rejectionOf(rpc.call('sem:add', 1, 2))).code, 'unauthorized')
  assert.deepEqual(await rpc.call('anonymous:devframe:auth', { authToken: E2E_TOKEN }), { isTrusted: true })
  assert.equal(await rpc.call('sem:add', 1, 2), 3)
})

test('callWith timeoutMs: rejects rpc_timeout on the client and sends a cancel frame, so the handler is cancelled (its cleanup ran)', async (t) => {
  const w = await world(t)
  const host = await w.host()
  const rpc = w.client()
  await rpc.ready
  const err = await rejectionOf(rpc.callWith({ timeoutMs: 50 }, 'sem:sleep', 5, 'timed-out'))
  assert.equal(err.code, 'rpc_timeout')
  const [req] = requestsTo(rpc, 'sem:sleep')
  assert.ok(rpc.sent.some((f) => f.t === 'c' && f.i === req.i), 'cancel frame sent')
  assert.deepEqual(rpc.sent.find((f) => f.t === 'c'), { t: 'c', i: req.i })
  // The cancel frame went out before the rejection, and frames are handled in order.
  assert.deepEqual(await rpc.call('sem:cleanups'), { 'timed-out': 'cancelled' })
  await host.waitForLog(/sem:sleep timed-out started/)
  assert.doesNotMatch(host.log, /sem:sleep timed-out finished/)
  // A call within its timeout is unaffected.
  assert.equal(await rpc.callWith({ timeoutMs: 5000 }, 'sem:sleep', 0, 'quick'), 'slept:quick')
})

test('AbortSignal after the call was sent: rejects rpc_cancelled, the cancel frame stops the handler (cleanup ran)', async (t) => {
  const w = await world(t)
  const host = await w.host()
  const rpc = w.client()
  await rpc.ready
  const ac = new AbortController()
  const p = rpc.callWith({ signal: ac.signal }, 'sem:sleep', 30, 'aborted')
  await host.waitForLog(/sem:sleep aborted started/)
  ac.abort()
  const err = await rejectionOf(p)
  assert.ok(err instanceof w.mod.RpcError)
  assert.equal(err.code, 'rpc_cancelled')
  const [req] = requestsTo(rpc, 'sem:sleep')
  assert.deepEqual(rpc.sent.at(-1), { t: 'c', i: req.i })
  assert.deepEqual(await rpc.call('sem:cleanups'), { aborted: 'cancelled' })
  // An already aborted signal: rejected at once, nothing sent.
  const before = rpc.sent.length
  assert.equal((await rejectionOf(rpc.callWith({ signal: AbortSignal.abort() }, 'sem:add', 1, 1))).code, 'rpc_cancelled')
  assert.equal(rpc.sent.length, before)
})

test('the host answers a cancel frame with rpc_cancelled (what the client ignores, as it has settled already)', async (t) => {
  const w = await world(t)
  const host = await w.host()
  const raw = await rawClient(host)
  raw.send({ t: 'q', i: 'long', m: 'sem:sleep', a: [30, 'raw-cancel'] })
  await host.waitForLog(/sem:sleep raw-cancel started/)
  raw.send({ t: 'c', i: 'long' })
  const reply = await raw.replyTo('long')
  assert.equal(reply.e.code, 'rpc_cancelled')
})

test('a call aborted while buffered (before the first connection) is never sent', async (t) => {
  const w = await world(t)
  const host = await w.host()
  const rpc = w.client()
  assert.equal(rpc.status, 'connecting')
  const ac = new AbortController()
  const aborted = rpc.callWith({ signal: ac.signal }, 'sem:sleep', 0, 'never-sent')
  const kept = rpc.call('sem:add', 20, 22)
  ac.abort()
  assert.equal((await rejectionOf(aborted)).code, 'rpc_cancelled')
  assert.equal(await kept, 42)
  assert.deepEqual(requestsTo(rpc, 'sem:sleep'), [])
  const stats = await rpc.call('moonhost:stats')
  assert.equal(stats.functions['sem:sleep'].calls, 0)
  assert.equal(stats.functions['sem:add'].calls, 1)
  assert.doesNotMatch(host.log, /never-sent/)
})

test('overloaded: with limits.max_inflight_per_client = 4, the 5th concurrent call is refused; cancelling frees the slots', async (t) => {
  const w = await world(t)
  const host = await w.host({ config: configDir(t, { '10-limits.lua': 'return { limits = { max_inflight_per_client = 4 } }' }) })
  const rpc = w.client()
  await rpc.ready
  const ac = new AbortController()
  const sleeps = [0, 1, 2, 3, 4].map((i) => rpc.callWith({ signal: ac.signal }, 'sem:sleep', 30, `ov${i}`))
  // The 5th was sent last and frames are handled in order: it is the one refused.
  const fifth = await rejectionOf(sleeps[4])
  assert.ok(fifth instanceof w.mod.RpcError)
  assert.equal(fifth.code, 'overloaded')
  assert.match(fifth.message, /limit 4/)
  for (const i of [0, 1, 2, 3]) await host.waitForLog(new RegExp(`sem:sleep ov${i} started`))
  assert.doesNotMatch(host.log, /sem:sleep ov4 started/)
  ac.abort()
  for (const p of sleeps.slice(0, 4)) assert.equal((await rejectionOf(p)).code, 'rpc_cancelled')
  assert.deepEqual(await rpc.call('sem:cleanups'), { ov0: 'cancelled', ov1: 'cancelled', ov2: 'cancelled', ov3: 'cancelled' })
  // The cancels freed the slots.
  assert.deepEqual(await Promise.all([1, 2, 3, 4].map((n) => rpc.call('sem:add', n, n))), [2, 4, 6, 8])
})

test('too_large: a frame over maxMessageBytes is refused locally and the socket stays; with the check off the host closes it with 1009', async (t) => {
  const w = await world(t)
  const host = await w.host()
  const big = 'x'.repeat(2 * 1024 * 1024)
  const rpc = w.client()
  await rpc.ready
  const err = await rejectionOf(rpc.call('sem:echo', big))
  assert.equal(err.code, 'too_large')
  assert.equal(rpc.event('sem:record', big), false)
  assert.deepEqual(requestsTo(rpc, 'sem:echo'), [])
  assert.equal(rpc.status, 'open')
  assert.equal(await rpc.call('sem:add', 1, 1), 2)

  // Without the local check the host closes the socket (1009); the call
  // fails as disconnected and the client reconnects.
  const unchecked = w.client({ maxMessageBytes: 0, reconnect: { initialMs: 10, maxMs: 50 } })
  await unchecked.ready
  const dropped = next(unchecked, 'disconnect')
  const back = next(unchecked, 'connect')
  const gone = await rejectionOf(unchecked.call('sem:echo', big))
  assert.equal(gone.code, 'disconnected')
  assert.match(gone.message, /1009/)
  assert.equal((await dropped).code, 1009)
  assert.deepEqual(await back, { reconnected: true })
  assert.equal(await unchecked.call('sem:add', 2, 2), 4)
  await host.waitForLog(/message over 1048576 bytes refused/)
})

test('close(): pending and later calls reject with disconnected, no reconnect, status closed', async (t) => {
  const w = await world(t)
  const host = await w.host()
  const rpc = w.client()
  await rpc.ready
  const dropped = next(rpc, 'disconnect')
  const p = rejectionOf(rpc.call('sem:sleep', 30, 'closing'))
  await host.waitForLog(/sem:sleep closing started/)
  await rpc.close()
  assert.equal((await p).code, 'disconnected')
  assert.equal(rpc.status, 'closed')
  assert.deepEqual(await dropped, { code: 1000, reason: 'closed by the client' })
  assert.equal((await rejectionOf(rpc.call('sem:add', 1, 1))).code, 'disconnected')
  assert.equal(rpc.event('sem:record', 1), false)
  // The host cancelled the handler when the socket went away.
  const other = w.client()
  assert.deepEqual(await other.call('sem:cleanups'), { closing: 'cancelled' })
})

test("restart in 'pause' mode: calls made while down are buffered and complete after the reconnect; in-flight calls fail; timeouts and the buffer limit hold", async (t) => {
  const w = await world(t)
  const port = await fixedPort()
  const host1 = await w.host({ port })
  const rpc = w.client({ onDisconnect: 'pause', reconnect: fast, bufferLimitBytes: 1024 })
  rpc.register({ name: 'c:double', handler: (x) => x * 2 })
  await rpc.ready

  // A call in flight when the host dies is lost with the socket: it is not sent again.
  const inflight = rejectionOf(rpc.call('sem:sleep', 30, 'inflight'))
  await host1.waitForLog(/sem:sleep inflight started/)
  const dropped = next(rpc, 'disconnect')
  host1.child.kill('SIGKILL')
  await host1.exited
  assert.equal((await dropped).code, 1006)
  assert.equal((await inflight).code, 'disconnected')
  assert.equal(rpc.status, 'reconnecting')

  // Made while down: buffered.
  const add = rpc.call('sem:add', 1, 2)
  const tried = rpc.tryCall('sem:echo', 'while down')
  assert.equal(rpc.event('sem:record', 'while-down'), true)
  const recorded = rpc.call('sem:recorded')
  // The wall-clock timeout counts buffered time: it fires with no host at all.
  const timedOut = await rejectionOf(rpc.callWith({ timeoutMs: 30 }, 'sem:add', 0, 0))
  assert.equal(timedOut.code, 'rpc_timeout')
  // Over bufferLimitBytes of serialized frames: refused at once.
  const overflow = await rejectionOf(rpc.call('sem:echo', 'y'.repeat(1500)))
  assert.equal(overflow.code, 'buffer_overflow')
  const sentBefore = rpc.sent.length

  const back = next(rpc, 'connect')
  const host2 = await w.host({ port })
  assert.deepEqual(await back, { reconnected: true })
  assert.equal(rpc.status, 'open')
  assert.equal(await add, 3)
  assert.deepEqual(await tried, { ok: true, value: ['while down'], error: undefined, reconnected: true })
  assert.deepEqual(await recorded, { count: 1, last: 'while-down' })
  // Flushed in call order; the timed-out and the refused call were never sent.
  assert.deepEqual(rpc.sent.slice(sentBefore).map((f) => f.m), ['sem:add', 'sem:echo', 'sem:record', 'sem:recorded'])
  const stats = await rpc.call('moonhost:stats')
  assert.equal(stats.functions['sem:add'].calls, 1)
  // Client functions answer on the new socket.
  assert.deepEqual(await rpc.call('sem:ask_client', 'c:double', 4), { ok: true, value: 8 })
  // Calls made while connected report reconnected: false.
  assert.equal((await rpc.tryCall('sem:add', 1, 1)).reconnected, false)
})

test("restart in 'fail' mode: in-flight calls and calls made while down reject with disconnected at once; after the reconnect calls work", async (t) => {
  const w = await world(t)
  const port = await fixedPort()
  const host1 = await w.host({ port })
  const rpc = w.client({ reconnect: fast }) // onDisconnect: 'fail' is the default
  rpc.register({ name: 'c:double', handler: (x) => x * 2 })
  await rpc.ready

  const inflight = rejectionOf(rpc.call('sem:sleep', 30, 'inflight'))
  await host1.waitForLog(/sem:sleep inflight started/)
  const dropped = next(rpc, 'disconnect')
  host1.child.kill('SIGKILL')
  await host1.exited
  await dropped
  assert.equal((await inflight).code, 'disconnected')

  // No host is running: these settle without one.
  const sentBefore = rpc.sent.length
  assert.equal((await rejectionOf(rpc.call('sem:add', 1, 2))).code, 'disconnected')
  const tried = await rpc.tryCall('sem:add', 1, 2)
  assert.equal(tried.ok, false)
  assert.equal(tried.error.code, 'disconnected')
  assert.equal(tried.reconnected, true)
  assert.equal(rpc.event('sem:record', 'dropped'), false)
  assert.equal(rpc.sent.length, sentBefore)

  const back = next(rpc, 'connect')
  await w.host({ port })
  assert.deepEqual(await back, { reconnected: true })
  assert.equal(await rpc.call('sem:add', 1, 2), 3)
  assert.deepEqual(await rpc.call('sem:recorded'), { count: 0 })
  assert.deepEqual(await rpc.call('sem:ask_client', 'c:double', 5), { ok: true, value: 10 })
})

test('reconnect: false: when the socket drops the client closes for good', async (t) => {
  const w = await world(t)
  const host = await w.host()
  const rpc = w.client({ reconnect: false })
  await rpc.ready
  const dropped = next(rpc, 'disconnect')
  host.child.kill('SIGKILL')
  await dropped
  assert.equal(rpc.status, 'closed')
  assert.equal((await rejectionOf(rpc.call('sem:add', 1, 1))).code, 'disconnected')
  await assert.rejects(rpc.ready.then(() => Promise.reject(new Error('still resolved'))), /still resolved/)
  assert.equal(rpc.urls.length, 1, 'no second attempt')
})

// README: on SIGTERM "clients get close code 1001 once their calls are done".
test('a graceful host stop lets the call in flight finish, closes with 1001, and a paused client carries on with the next host', async (t) => {
  const w = await world(t)
  const port = await fixedPort()
  const host1 = await w.host({ port })
  const rpc = w.client({ onDisconnect: 'pause', reconnect: fast })
  await rpc.ready
  const inflight = rpc.call('sem:sleep', 0.3, 'draining')
  await host1.waitForLog(/sem:sleep draining started/)
  const dropped = next(rpc, 'disconnect')
  const stopped = host1.stop()
  assert.equal(await inflight, 'slept:draining')
  const { code } = await dropped
  await stopped
  const buffered = rpc.call('sem:add', 40, 2)
  const back = next(rpc, 'connect')
  await w.host({ port })
  await back
  assert.equal(await buffered, 42)
  assert.equal(code, 1001, 'close code of a graceful stop')
})

test('before the first connection calls are buffered in both modes: pause waits for the host, fail rejects when the first attempt fails', async (t) => {
  const w = await world(t)
  const port = await fixedPort()
  const url = `ws://127.0.0.1:${port}/__ws`
  // A host is needed only to fetch the client module from; it is stopped at once.
  const first = await w.host()
  await first.stop()

  const failing = w.client({ url, reconnect: fast })
  const paused = w.client({ url, reconnect: fast, onDisconnect: 'pause' })
  const failed = rejectionOf(failing.call('sem:add', 1, 1))
  const waiting = paused.tryCall('sem:add', 2, 2)
  assert.equal((await failed).code, 'disconnected')

  const connected = Promise.all([next(failing, 'connect'), next(paused, 'connect')])
  await w.host({ port })
  assert.deepEqual(await connected, [{ reconnected: false }, { reconnected: false }])
  assert.deepEqual(await waiting, { ok: true, value: 4, error: undefined, reconnected: false })
  assert.equal(await failing.call('sem:add', 3, 3), 6)
})
