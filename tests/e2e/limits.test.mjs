// Limits (README "Limits and bad input"): oversize frames, calls in flight,
// slow consumers and the connection cap. Each one is hit for real over
// sockets; afterwards the host must still serve everyone else.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { connect as tcpConnect } from 'node:net'
import WebSocket from 'ws'
import { E2E_TOKEN, closeOf } from './lib/host.mjs'
import { hostFor, rawClient, configDir, copyFixturePlugins, scratchDir, fixtures, servedClient } from './lib/util.mjs'

/** A plugins dir with the semantics fixture and the limits fixture (flood.lua). */
function limitPlugins() {
  const dir = copyFixturePlugins(['semantics.lua'], scratchDir('moonhost-limits-'))
  cpSync(join(fixtures, 'limits/plugins/flood.lua'), join(dir, 'flood.lua'))
  return dir
}

/** A host with the limits plugins and these limits (conf.d fragment). */
async function limitedHost(t, limits) {
  const config = configDir(t, { '10-limits.lua': `return { limits = ${luaTable(limits)} }` })
  return hostFor(t, { plugins: limitPlugins(), config })
}

const luaTable = (o) => `{ ${Object.entries(o).map(([k, v]) => `${k} = ${v}`).join(', ')} }`

const count = (text, re) => (text.match(re) || []).length

/** A normal call from a fresh client still works. */
async function assertServing(host) {
  const c = await host.connect()
  assert.equal(await c.rpc['sem:add'](40, 2), 42)
  c.close()
}

test('a 2 MiB frame (default limit 1 MiB) closes that socket with 1009; the host keeps serving others', async (t) => {
  const host = await hostFor(t, { plugins: limitPlugins() })
  const other = await host.connect()
  const raw = await rawClient(host)
  raw.send(JSON.stringify({ t: 'q', i: 'big', m: 'sem:echo', a: ['x'.repeat(2 * 1024 * 1024)] }))
  const { code } = await raw.closed
  assert.equal(code, 1009)
  await host.waitForLog(/message over 1048576 bytes refused/)
  assert.equal(await other.rpc['sem:add'](1, 2), 3)
  await assertServing(host)
})

test('max_message_bytes is exact: a frame of exactly the limit is served, one byte more closes with 1009', async (t) => {
  const limit = 4096
  const host = await limitedHost(t, { max_message_bytes: limit })
  const frame = (n) => {
    const base = JSON.stringify({ t: 'q', i: 'f', m: 'sem:echo', a: [''] })
    return JSON.stringify({ t: 'q', i: 'f', m: 'sem:echo', a: ['y'.repeat(n - base.length)] })
  }
  const ok = await rawClient(host)
  assert.equal(Buffer.byteLength(frame(limit)), limit)
  ok.send(frame(limit))
  const reply = await ok.replyTo('f')
  assert.equal(reply.r[0].length, limit - JSON.stringify({ t: 'q', i: 'f', m: 'sem:echo', a: [''] }).length)
  const over = await rawClient(host)
  over.send(frame(limit + 1))
  assert.equal((await over.closed).code, 1009)
  await assertServing(host)
})

test('too many calls in flight: the 5th of 5 concurrent calls is refused as overloaded (limit 4); cancels free the slots', async (t) => {
  const host = await limitedHost(t, { max_inflight_per_client: 4 })
  const raw = await rawClient(host)
  for (let i = 0; i < 5; i++) raw.send({ t: 'q', i: `s${i}`, m: 'sem:sleep', a: [30, `inflight${i}`] })
  const refused = await raw.next()
  assert.equal(refused.i, 's4')
  assert.equal(refused.e.code, 'overloaded')
  assert.match(refused.e.message, /too many calls in flight \(limit 4\)/)
  // Another client has its own budget.
  await assertServing(host)
  for (let i = 0; i < 4; i++) raw.send({ t: 'c', i: `s${i}` })
  const cancelled = []
  for (let i = 0; i < 4; i++) cancelled.push(await raw.next())
  assert.deepEqual(cancelled.map((m) => [m.i, m.e.code]), [0, 1, 2, 3].map((i) => [`s${i}`, 'rpc_cancelled']))
  raw.send({ t: 'q', i: 'after', m: 'sem:add', a: [1, 1] })
  assert.deepEqual(await raw.replyTo('after'), { t: 's', i: 'after', r: 2 })
})

test('a slow consumer (stops reading) is dropped with 1008 when its send queue passes send_queue_bytes; other clients keep working', async (t) => {
  const host = await limitedHost(t, { send_queue_bytes: 65536 })
  const { connect } = await servedClient(host)

  // The slow one: a trusted socket that stops reading from TCP.
  const slow = await host.rawSocket()
  const slowClosed = closeOf(slow)
  slow._socket.pause()

  // A trusted reader that gets every broadcast too, and starts the flood.
  const reader = await rawClient(host)
  let payloads = 0
  reader.ws.on('message', (d) => {
    if (d.toString().includes('"flood:payload"')) payloads++
  })

  // Our client, calling while the flood runs (it receives the broadcasts as well).
  // (No reconnect: if the host dies nothing must keep this process alive.)
  const rpc = connect({ url: host.url, token: E2E_TOKEN, WebSocket, reconnect: false })
  t.after(() => rpc.close())
  let floodEvents = 0
  rpc.on('event', (name) => name === 'flood:payload' && floodEvents++)
  await rpc.ready

  reader.send({ t: 'q', i: 'blast', m: 'flood:blast', a: [20000, 4096] })
  let done = false
  const blast = reader.replyTo('blast').finally(() => (done = true))
  let calls = 0
  while (!done) {
    assert.equal(await rpc.call('sem:add', calls, 1), calls + 1)
    calls++
  }
  const { r: result } = await blast
  assert.equal(result.first, 3, 'the flood reached all three clients at first')
  assert.equal(result.last, 2, 'then one was dropped')
  assert.ok(calls >= 1, 'calls completed during the flood')
  // The reader and our client got every payload sent to them.
  assert.equal(payloads, result.rounds)
  assert.equal(await rpc.call('sem:add', 1, 1), 2)
  assert.equal(floodEvents, result.rounds)
  // The host lets go of it while it still is not reading: its slot (and
  // queue) are freed without the slow client's help.
  const [, slowId] = await host.waitForLog(/\[ws\] (c\d+): send queue over 65536 bytes \(slow consumer\): closing/)
  await host.waitForLog(new RegExp(`\\[ws\\] ${slowId} disconnected`), 30000)
  const health = await (await fetch(`http://127.0.0.1:${host.port}/__moonhost/health`)).json()
  assert.equal(health.clients, 2, 'the reader and our client')
  // Once it reads again the slow client learns why it was closed: 1008 when
  // the close frame found room in its socket buffers, which one that reads
  // nothing may never leave; then the host hung up without a code (1006).
  slow._socket.resume()
  assert.ok([1008, 1006].includes((await slowClosed).code))
  await assertServing(host)
})

test('connection cap: with max_connections = 50, of 1000 concurrent connections 950 are closed with 1013; the host survives and serves new clients', async (t) => {
  const host = await limitedHost(t, { max_connections: 50 })
  const started = Date.now()
  const N = 1000
  const sockets = []
  const outcomes = [] // one per socket: { opened, code }
  await new Promise((resolveAll) => {
    let settled = 0
    const settle = () => ++settled === N && resolveAll()
    for (let i = 0; i < N; i++) {
      const ws = new WebSocket(`${host.url}?token=${E2E_TOKEN}`)
      const o = { opened: false, code: null, error: null }
      outcomes.push(o)
      sockets.push(ws)
      let counted = false
      const once = () => !counted && (counted = true) && settle()
      ws.on('error', (e) => (o.error = e.message))
      ws.on('open', () => {
        o.opened = true
        // An accepted socket counts as settled once the host answers on it.
        ws.send(JSON.stringify({ t: 'q', i: 'p', m: 'sem:add', a: [i, 0] }))
      })
      ws.on('message', () => once())
      ws.on('close', (code) => {
        o.code = code
        once()
      })
    }
  })
  const open = outcomes.filter((o) => o.code === null)
  const closed = outcomes.filter((o) => o.code !== null)
  assert.equal(open.length, 50, 'exactly max_connections stay open')
  assert.equal(closed.length, 950)
  const codes = {}
  for (const o of closed) codes[o.code] = (codes[o.code] || 0) + 1
  // Every refusal is counted; the log shows a few a second (README "Log floods"), not 950 lines.
  const metrics = await (await fetch(`http://127.0.0.1:${host.port}/metrics`, { headers: { authorization: `Bearer ${E2E_TOKEN}` } })).text()
  assert.match(metrics, /^moonhost_connections_refused_total\{reason="too_many"\} 950$/m)
  const shown = count(host.log, /connection refused: 50 connections already/g)
  const seconds = Math.ceil((Date.now() - started) / 1000)
  assert.ok(shown >= 1 && shown <= 20 + 10 * seconds, `${shown} refusal lines in ${seconds} s`)

  // Full: one more is refused too.
  const extra = new WebSocket(`${host.url}?token=${E2E_TOKEN}`)
  extra.on('error', () => {})
  const extraCode = (await closeOf(extra)).code

  // Free every slot; once the host has seen all of them go, a new client is served.
  await Promise.all(sockets.filter((ws) => ws.readyState === WebSocket.OPEN).map((ws) => {
    const c = closeOf(ws)
    ws.close()
    return c
  }))
  await host.waitForLogState((log) => count(log, /\[ws\] c\d+ disconnected/g) >= N + 1, `${N + 1} disconnects`, 20000)
  await assertServing(host)
  // assertServing's client closes without waiting: the host must have seen it go too.
  await host.waitForLogState((log) => count(log, /\[ws\] c\d+ disconnected/g) >= N + 2, `${N + 2} disconnects`, 20000)
  const health = await (await fetch(`http://127.0.0.1:${host.port}/__moonhost/health`)).json()
  assert.deepEqual([health.ok, health.clients], [true, 0])
  // Last, so the checks above run either way: the close code refused connections see.
  assert.deepEqual(codes, { 1013: 950 }, `close codes of refused connections: ${JSON.stringify(codes)}`)
  assert.equal(extraCode, 1013)
})

test('TCP connections that close before (or in the middle of) a request do not crash the host', async (t) => {
  const host = await hostFor(t, { plugins: limitPlugins() })
  const open = () => new Promise((res, rej) => {
    const s = tcpConnect(host.port, '127.0.0.1', () => res(s))
    s.once('error', rej)
  })
  // Connect and hang up without a byte (what port scanners and health probes do).
  const idle = await open()
  await new Promise((res) => idle.end(res))
  // Half a request line, then gone.
  const half = await open()
  half.write('GET /__moonhost/hea')
  half.destroy()
  // Half an upgrade request, then gone.
  const upgrade = await open()
  upgrade.write('GET /__ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n')
  upgrade.destroy()
  await assertServing(host)
  assert.equal(host.child.exitCode, null, 'still running')
})
