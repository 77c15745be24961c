// Limits, round 2 (issue 13): untrusted clients (names, message size, rate,
// which names they reach), events against max_inflight_per_client, slow
// consumers judged by their own backlog, and the open-file limit. Each is
// hit for real over sockets; afterwards the host must still serve.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import WebSocket from 'ws'
import { spawn } from 'node:child_process'
import { connect as tcpConnect } from 'node:net'
import { request as httpRequest } from 'node:http'
import { E2E_TOKEN, Host, closeOf, moonhostBin } from './lib/host.mjs'
import { hostFor, rawClient, configDir, copyFixturePlugins, scratchDir, fixtures } from './lib/util.mjs'

/** A plugins dir with the semantics fixture and the burst fixture. */
function plugins() {
  const dir = copyFixturePlugins(['semantics.lua'], scratchDir('moonhost-limits2-'))
  cpSync(join(fixtures, 'limits/plugins/burst.lua'), join(dir, 'burst.lua'))
  return dir
}

/** A hang (a close or reply that never comes) fails the test instead of the run. */
const T = { timeout: 120000 }

const luaTable = (o) => `{ ${Object.entries(o).map(([k, v]) => `${k} = ${v}`).join(', ')} }`

/** A host with these limits (conf.d fragment); opts go to startHost. */
async function limitedHost(t, limits = {}, opts = {}) {
  const config = configDir(t, { '10-limits.lua': `return { limits = ${luaTable(limits)} }` })
  return hostFor(t, { plugins: plugins(), config, ...opts })
}

const count = (text, re) => (text.match(new RegExp(re.source, 'g')) || []).length

/** A normal call from a fresh client still works. */
async function assertServing(host) {
  const c = await host.connect()
  assert.equal(await c.rpc['sem:add'](40, 2), 42)
  c.close()
}

const untrusted = (host) => rawClient(host, '/__ws?no-token')

// ---- item 17: which names an untrusted client reaches ----

test('untrusted: "anonymous:*" and Vite DevTools 0.1\'s "vite:anonymous:auth" answer; an ":anonymous:" infix anywhere else is unauthorized', T, async (t) => {
  const host = await limitedHost(t)
  const raw = await untrusted(host)
  raw.send({ t: 'q', i: 'infix', m: 'thrower:anonymous:ping', a: [] })
  const infix = await raw.replyTo('infix')
  assert.equal(infix.e?.code, 'unauthorized', JSON.stringify(infix))
  raw.send({ t: 'q', i: 'prefix', m: 'anonymous:burst:hello', a: [] })
  assert.equal((await raw.replyTo('prefix')).r, 'hello')
  raw.send({ t: 'q', i: 'vite01', m: 'vite:anonymous:auth', a: [{ authToken: 'wrong' }] })
  assert.deepEqual((await raw.replyTo('vite01')).r, { isTrusted: false })
  raw.send({ t: 'q', i: 'devframe', m: 'anonymous:devframe:auth', a: [{ authToken: E2E_TOKEN }] })
  assert.deepEqual((await raw.replyTo('devframe')).r, { isTrusted: true })
  // Trusted now: the infix function answers.
  raw.send({ t: 'q', i: 'again', m: 'thrower:anonymous:ping', a: [] })
  assert.equal((await raw.replyTo('again')).r, 'pong (should need a token)')
  await assertServing(host)
})

// ---- item 8: what an untrusted client can make the host hold and log ----

test('a method name over 256 bytes is bad_request and is neither echoed nor logged; 256 bytes is refused (unauthorized) with the name', T, async (t) => {
  const host = await limitedHost(t)
  const raw = await untrusted(host)
  const long = 'x:' + 'n'.repeat(1024 * 100)
  raw.send({ t: 'q', i: 'long', m: long, a: [] })
  const reply = await raw.replyTo('long')
  assert.equal(reply.e?.code, 'bad_request')
  assert.match(reply.e.message, /longer than 256 bytes/)
  assert.ok(JSON.stringify(reply).length < 400, `reply is small: ${JSON.stringify(reply).length} bytes`)
  const edge = 'y:' + 'n'.repeat(254)
  raw.send({ t: 'q', i: 'edge', m: edge, a: [] })
  const refused = await raw.replyTo('edge')
  assert.equal(refused.e?.code, 'unauthorized')
  assert.ok(refused.e.message.includes(edge))
  await host.waitForLog(/untrusted call to y:n+ refused/)
  assert.ok(!host.log.includes('n'.repeat(300)), 'the long name is not in the log')
  // Over HTTP, with the token or not: 404, a bounded message, nothing logged.
  for (const headers of [{}, { authorization: `Bearer ${E2E_TOKEN}` }]) {
    const res = await fetch(`http://127.0.0.1:${host.port}/rpc/x/${'h'.repeat(900)}`, { method: 'POST', headers, body: '{"json":1}' })
    assert.equal(res.status, 404)
    const text = await res.text()
    assert.ok(text.length < 800, `${text.length} bytes`)
    assert.equal(JSON.parse(text).json.code, 'NOT_FOUND')
  }
  // (A debug line names every refused request's path.)
  assert.ok(!host.log.split('\n').some((l) => !/ debug /.test(l) && l.includes('h'.repeat(300))), 'the long HTTP name is in the log')
  await assertServing(host)
})

test('an untrusted client\'s message over limits.untrusted_max_message_bytes (128 KiB) closes with 1009; a trusted one may send 1 MiB', T, async (t) => {
  const host = await limitedHost(t)
  const raw = await untrusted(host)
  raw.send({ t: 'q', i: 'big', m: 'anonymous:burst:hello', a: ['z'.repeat(200 * 1024)] })
  assert.equal((await raw.closed).code, 1009)
  await host.waitForLog(/message over 131072 bytes refused \(untrusted client\)/)
  // The same in 1 KiB fragments, each small: the total counts.
  const pieces = await untrusted(host)
  pieces.ws.send(Buffer.from('{"t":"q","i":"frag","m":"anonymous:burst:hello","a":["'), { binary: false, fin: false })
  for (let i = 0; i < 200; i++) pieces.ws.send(Buffer.alloc(1024, 'f'), { fin: false })
  pieces.ws.send(Buffer.from('"]}'), { fin: true })
  // 1009, or 1006 when the host's hang-up resets the fragments still in
  // flight before the client reads the close frame: the log says which.
  assert.ok([1009, 1006].includes((await pieces.closed).code))
  await host.waitForLogCount(/message over 131072 bytes refused \(untrusted client\)/, 2)
  const trusted = await rawClient(host)
  trusted.send({ t: 'q', i: 'big', m: 'sem:echo', a: ['z'.repeat(900 * 1024)] })
  assert.equal((await trusted.replyTo('big')).r[0].length, 900 * 1024)
  await assertServing(host)
})

/** One HTTP/1.1 request on a fresh connection: the status, or the socket error's code. */
function request(host, path, headers = {}, method = 'GET', body) {
  return new Promise((res) => {
    const req = httpRequest({ host: '127.0.0.1', port: host.port, path, method, headers: { connection: 'close', ...headers } }, (r) => {
      r.resume()
      r.on('end', () => res(r.statusCode))
    })
    req.on('error', (e) => res(e.code))
    req.end(body)
  })
}

/** A WebSocket upgrade's status (101 when accepted: then it sends `frame` and waits for the close code). */
function upgrade(host, path, headers = {}, frame) {
  return new Promise((res) => {
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}${path}`, { headers })
    ws.on('open', () => (frame === undefined ? (ws.terminate(), res(101)) : ws.send(frame)))
    ws.on('close', (code) => res(code))
    ws.on('unexpected-response', (req, r) => {
      res(r.statusCode)
      req.destroy()
    })
    ws.on('error', () => {})
  })
}

test('one client without a token repeating refused requests (Host, Origin, path, sizes, binary frames) gets a few log lines a second, not one per request', T, async (t) => {
  const host = await limitedHost(t, {}, { logLevel: 'info' })
  const longOrigin = `https://${'o'.repeat(3000)}.example` // every line would carry it
  const kinds = {
    'foreign Origin': [() => request(host, '/__moonhost/health', { origin: longOrigin }), 403],
    'foreign Host': [() => request(host, '/__moonhost/health', { host: 'rebind.evil.example' }), 403],
    'foreign Origin upgrade': [() => upgrade(host, '/__ws', { origin: 'https://evil.example' }), 403],
    'upgrade to another path': [() => upgrade(host, '/elsewhere'), 404],
    'declared body too large': [() => request(host, '/rpc/anonymous/burst/hello', { 'content-length': String(8 << 20) }, 'POST'), 413],
    'binary frame': [() => upgrade(host, '/__ws', {}, Buffer.from([1, 2, 3])), 1003],
    'message over the untrusted limit': [() => upgrade(host, '/__ws', {}, 'x'.repeat(129 * 1024)), 1009],
  }
  const PER = 150
  for (const [what, [send, expected]] of Object.entries(kinds)) {
    const logBefore = host.log.length
    const started = Date.now()
    // Sequential: each request is answered before the next (no pipelining).
    for (let i = 0; i < PER; i++) assert.equal(await send(), expected, `${what} #${i}`)
    const seconds = (Date.now() - started) / 1000
    const log = host.log.slice(logBefore)
    const lines = count(log, /\n/)
    t.diagnostic(`${what}: ${PER} in ${seconds.toFixed(2)} s, ${lines} log lines, ${log.length} bytes`)
    // At most two call sites per refusal (the reason, and the answer): 20
    // each at once, then 10 a second, plus a "suppressed" line each.
    assert.ok(lines <= 2 * (20 + Math.ceil(10 * seconds) + 2), `${what}: ${lines} lines in ${seconds} s:\n${log.slice(-2000)}`)
    assert.ok(log.length < 2 * 24 * (longOrigin.length + 200), `${what}: log grew by ${log.length} bytes`)
  }
  // Every refusal still counts in /metrics, logged or not.
  const metrics = await (await fetch(`http://127.0.0.1:${host.port}/metrics`, { headers: { authorization: `Bearer ${E2E_TOKEN}` } })).text()
  for (const reason of ['origin', 'host', 'path'])
    assert.match(metrics, new RegExp(`moonhost_connections_refused_total\\{reason="${reason}"\\} (\\d+)`), reason)
  assert.equal(Number(/refused_total\{reason="origin"\} (\d+)/.exec(metrics)[1]), 2 * PER)
  assert.equal(Number(/refused_total\{reason="host"\} (\d+)/.exec(metrics)[1]), PER)
  // The suppressed lines are accounted for once the site writes again.
  await request(host, '/__moonhost/health', { origin: 'https://last.example' })
  await host.waitForLog(/\d+ lines like the next one were suppressed[^\n]*\n[^\n]*origin https:\/\/last\.example refused/)
  await assertServing(host)
})

/** Resident memory of the host process, in bytes. */
function rssOf(host) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${host.child.pid}/status`, 'utf8'))
  return Number(m[1]) * 1024
}

test('40 untrusted clients flooding long and refused names: RSS and log stay small, over 20 calls a second each is overloaded', T, async (t) => {
  // Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
  // default) and would count as growth: keep it small (other builds ignore it).
  const asan = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=16'].filter(Boolean).join(':')
  const host = await limitedHost(t, {}, { env: { ASAN_OPTIONS: asan } })
  const N = 40
  const PER = 200
  const longName = 'x:' + 'n'.repeat(100 * 1024)
  const clients = await Promise.all(Array.from({ length: N }, () => untrusted(host)))
  await assertServing(host)
  const rssBefore = rssOf(host)
  const logBefore = host.log.length
  const started = Date.now()
  const outcomes = await Promise.all(clients.map(async (raw, k) => {
    const seen = { bad_request: 0, unauthorized: 0, overloaded: 0 }
    for (let i = 0; i < PER; i++) {
      const m = i % 2 ? `sem:add:${k}:${'m'.repeat(200)}` : longName
      raw.send({ t: 'q', i: `f${i}`, m, a: [1, 2] })
    }
    for (let i = 0; i < PER; i++) {
      // 400 MB go in before the last answers can: on a loaded machine a
      // client may wait more than the usual 10 s for its first one.
      const m = await raw.next(60000)
      seen[m.e.code]++
    }
    return seen
  }))
  const seconds = (Date.now() - started) / 1000
  const rssGrowth = rssOf(host) - rssBefore
  const log = host.log.slice(logBefore)
  t.diagnostic(`${N} x ${PER} frames in ${seconds.toFixed(2)} s: RSS +${(rssGrowth / 1048576).toFixed(1)} MiB, log +${log.length} bytes`)
  for (const seen of outcomes) {
    assert.equal(seen.bad_request, PER / 2, JSON.stringify(seen))
    // A burst of 20, then 20 a second at most.
    assert.ok(seen.unauthorized >= 20 && seen.unauthorized <= 20 + Math.ceil(20 * seconds) + 1, JSON.stringify(seen))
    assert.equal(seen.unauthorized + seen.overloaded, PER / 2)
  }
  // Three sites (bad envelope, refused, over the rate), each 20 lines then 10 a second.
  const lines = count(log, /\[(auth|client)\] c\d+: (untrusted|bad envelope)/)
  assert.ok(lines <= 3 * (20 + Math.ceil(10 * seconds) + 1), `${lines} lines in ${seconds} s`)
  assert.ok(log.length < 256 * 1024, `log grew by ${log.length} bytes`)
  assert.ok(rssGrowth < 64 * 1048576, `RSS grew by ${rssGrowth} bytes`)
  await assertServing(host)
})

test('untrusted calls and events over limits.untrusted_calls_per_s do not run: a counter sees at most the rate', T, async (t) => {
  const config = configDir(t, { '10-limits.lua': 'return { limits = { untrusted_calls_per_s = 5 } }' })
  const host = await hostFor(t, { plugins: join(fixtures, 'tally'), config })
  const raw = await untrusted(host)
  const started = Date.now()
  const N = 300
  for (let i = 0; i < N; i++) {
    // Events (no id) and calls share the bucket.
    raw.send(i % 2 ? { t: 'q', i: `c${i}`, m: 'anonymous:tally:hit', a: [] } : { t: 'q', m: 'anonymous:tally:hit', a: [] })
  }
  const codes = {}
  for (let i = 0; i < N / 2; i++) {
    const m = await raw.next()
    const k = m.e ? m.e.code : 'ran'
    codes[k] = (codes[k] || 0) + 1
  }
  const seconds = (Date.now() - started) / 1000
  const trusted = await host.connect()
  const runs = await trusted.rpc['tally:count']()
  t.diagnostic(`${N} untrusted frames in ${seconds.toFixed(2)} s: ${runs} runs, replies ${JSON.stringify(codes)}`)
  assert.ok(runs >= 5 && runs <= 5 + Math.ceil(5 * seconds) + 1, `${runs} runs in ${seconds} s`)
  assert.ok(codes.overloaded >= N / 2 - runs, JSON.stringify(codes))
  trusted.close()
})

test('untrusted HTTP calls share one limits.untrusted_calls_per_s bucket: new connections do not refill it; trusted calls are not limited', T, async (t) => {
  const host = await limitedHost(t, { untrusted_calls_per_s: 5 })
  const post = (token) => fetch(`http://127.0.0.1:${host.port}/rpc/anonymous/burst/hello`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', connection: 'close', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: '{"json":"x"}',
  }).then(async (r) => ({ status: r.status, body: await r.json() }))
  const started = Date.now()
  const answers = await Promise.all(Array.from({ length: 40 }, () => post()))
  const seconds = (Date.now() - started) / 1000
  const ok = answers.filter((a) => a.status === 200).length
  const limited = answers.filter((a) => a.status === 429)
  t.diagnostic(`40 untrusted HTTP calls in ${seconds.toFixed(2)} s: ${ok} answered, ${limited.length} refused`)
  // A burst of 5, then 5 a second at most, however many connections they came on.
  assert.ok(ok >= 5 && ok <= 5 + Math.ceil(5 * seconds) + 1, `${ok} answered in ${seconds} s`)
  assert.equal(ok + limited.length, 40)
  assert.equal(limited[0].body.json.code, 'TOO_MANY_REQUESTS')
  assert.match(limited[0].body.json.message, /too many calls from untrusted HTTP callers \(limit 5 a second for all of them\)/)
  await host.waitForLog(/\[auth\] untrusted HTTP calls over 5 a second: anonymous:burst:hello refused/)
  // The token's holder is not charged.
  const trusted = await Promise.all(Array.from({ length: 20 }, () => post(E2E_TOKEN)))
  assert.deepEqual(trusted.map((a) => a.status), Array(20).fill(200))
  await assertServing(host)
})

// ---- item 9: events hold in-flight slots ----

test('events count against max_inflight_per_client: past the limit they are dropped with a log line; a call meanwhile is overloaded', T, async (t) => {
  const host = await limitedHost(t, { max_inflight_per_client: 4 })
  const raw = await rawClient(host)
  for (let i = 0; i < 10; i++) raw.send({ t: 'q', m: 'sem:sleep', a: [0.3, `ev${i}`] })
  raw.send({ t: 'q', i: 'call', m: 'sem:add', a: [1, 1] })
  const refused = await raw.replyTo('call')
  assert.equal(refused.e?.code, 'overloaded', JSON.stringify(refused))
  await host.waitForLogCount(/event sem:sleep dropped: too many calls in flight \(limit 4\)/, 6)
  await host.waitForLogCount(/sem:sleep ev\d finished/, 4)
  assert.equal(count(host.log, /sem:sleep ev\d started/), 4)
  // The slots are free again once the events' runs end.
  raw.send({ t: 'q', i: 'after', m: 'sem:add', a: [1, 1] })
  assert.equal((await raw.replyTo('after')).r, 2)
  // An event still runs to its end when its client goes away.
  raw.send({ t: 'q', m: 'sem:sleep', a: [0.2, 'orphan'] })
  await host.waitForLog(/sem:sleep orphan started/)
  raw.ws.close()
  await host.waitForLog(/sem:sleep orphan finished/)
  await assertServing(host)
})

// ---- item 10: slow consumers judged by their own backlog ----

/** n trusted sockets that complete the upgrade and then never read. */
async function nonReaders(host, n) {
  const out = []
  for (let i = 0; i < n; i++) {
    const ws = await host.rawSocket()
    const closed = closeOf(ws)
    ws._socket.pause()
    out.push({ ws, closed })
  }
  return out
}

/**
 * The non-readers read again: each is closed, with 1008 when the close frame
 * found room in its socket, else without a code (the host hung up, 1006).
 */
async function resumeAndCheckClosed(slow) {
  for (const s of slow) s.ws._socket.resume()
  for (const s of slow) assert.ok([1008, 1006].includes((await s.closed).code))
}

/** A trusted raw reader that counts the broadcasts of the burst fixture. */
async function countingReader(host) {
  const reader = await rawClient(host)
  const state = { reader, payloads: 0, closedWith: null }
  reader.ws.on('message', (d) => {
    if (/"burst:(payload|paced)"/.test(d.toString())) state.payloads++
  })
  reader.closed.then(({ code }) => (state.closedWith = code))
  return state
}

/**
 * Paced 64 KiB broadcasts (the caller asks for them) until they reach only
 * the reader and the caller: every non-reader was dropped as a slow consumer,
 * the two readers were not, and the caller is still answered. Returns the
 * fixture's {rounds, reached}.
 */
async function floodUntilReadersLeft(host, { slow, reader, caller, pause }) {
  caller.reader.send({ t: 'q', i: 'paced', m: 'burst:until', a: [5000, 65536, 2, pause] })
  const { r: paced } = await caller.reader.replyTo('paced')
  assert.equal(paced.reached, 2, JSON.stringify(paced))
  assert.equal(reader.closedWith, null, 'the prompt reader is still connected')
  assert.equal(caller.closedWith, null, 'the caller is still connected')
  await host.waitForLogCount(/send queue over 1048576 bytes \(slow consumer\): closing/, slow.length)
  caller.reader.send({ t: 'q', i: 'add', m: 'sem:add', a: [2, 3] })
  assert.equal((await caller.reader.replyTo('add')).r, 5)
  await resumeAndCheckClosed(slow)
  await assertServing(host)
  return paced
}

test('a burst of 2 MiB in one handler run (send_queue_bytes 1 MiB) keeps the readers and the caller; only clients that stop reading are dropped', T, async (t) => {
  const host = await limitedHost(t, { send_queue_bytes: 1048576 })
  const slow = await nonReaders(host, 3)
  const reader = await countingReader(host)
  const caller = await countingReader(host)
  const N = 32
  caller.reader.send({ t: 'q', i: 'burst', m: 'burst:once', a: [N, 65536] })
  const { r: burst } = await caller.reader.replyTo('burst')
  assert.deepEqual(burst, { first: 5, last: 5 }, 'the burst reached all five clients')
  const paced = await floodUntilReadersLeft(host, { slow, reader, caller, pause: 0.002 })
  assert.equal(reader.payloads, N + paced.rounds)
  assert.equal(caller.payloads, N + paced.rounds)
})

test('20 clients that stop reading and 64 KiB broadcasts: a prompt reader and the calling client stay connected and get every payload', T, async (t) => {
  const host = await limitedHost(t, { send_queue_bytes: 1048576 })
  const slow = await nonReaders(host, 20)
  const reader = await countingReader(host)
  const caller = await countingReader(host)
  const paced = await floodUntilReadersLeft(host, { slow, reader, caller, pause: 0.001 })
  assert.equal(reader.payloads, paced.rounds)
  assert.equal(caller.payloads, paced.rounds)
})

// ---- item 6: the open-file limit ----

/** A host whose open-file limit is `nofile` (prlimit, no shell involved). */
async function hostWithFileLimit(t, nofile) {
  const config = configDir(t, {})
  const args = ['run', '--listen', '127.0.0.1:0', '--log-level', 'debug', '--plugins', plugins(), '--config', config]
  const child = spawn('prlimit', [`--nofile=${nofile}:${nofile}`, '--', moonhostBin, ...args])
  const host = new Host(child)
  t.after(() => host.stop())
  await host.ready
  return host
}

/** A TCP connection to the host that sends nothing; resolves once connected (or refused). */
function idleTcp(host) {
  return new Promise((res) => {
    const s = tcpConnect(host.port, '127.0.0.1')
    s.on('error', () => {})
    s.once('connect', () => res(s))
    s.once('close', () => res(s))
  })
}

test('at the open-file limit (64) the host sheds new connections with a few log lines, keeps answering its clients, and serves again once connections close', T, async (t) => {
  const host = await hostWithFileLimit(t, 64)
  const client = await host.connect()
  assert.equal(await client.rpc['sem:add'](1, 1), 2)
  const logBefore = host.log.length
  const started = Date.now()
  // Far more connections than descriptors; each waits for the host to take it.
  const flood = await Promise.all(Array.from({ length: 300 }, () => idleTcp(host)))
  await host.waitForLog(/accept: (Too many open files|errno 24)/)
  // The connected client is answered while the excess keeps coming.
  const more = Array.from({ length: 200 }, () => idleTcp(host))
  for (let i = 0; i < 50; i++) assert.equal(await client.rpc['sem:add'](i, 1), i + 1)
  flood.push(...(await Promise.all(more)))
  const seconds = (Date.now() - started) / 1000
  const log = host.log.slice(logBefore)
  const acceptLines = count(log, /accept: /)
  t.diagnostic(`${flood.length} connections in ${seconds.toFixed(2)} s: ${acceptLines} accept lines, log +${log.length} bytes`)
  assert.ok(acceptLines >= 1 && acceptLines <= 20 + Math.ceil(10 * seconds) + 1, `${acceptLines} accept lines in ${seconds} s`)
  assert.ok(log.length < 64 * 1024, `log grew by ${log.length} bytes`)
  // Let every connection go; then a new client is served again.
  await Promise.all(flood.map((s) => new Promise((res) => (s.destroyed ? res() : (s.once('close', res), s.destroy())))))
  let served = false
  for (let attempt = 0; attempt < 50 && !served; attempt++) {
    const ws = new WebSocket(`${host.url}?token=${E2E_TOKEN}`)
    served = await new Promise((res) => {
      ws.once('open', () => {
        ws.send(JSON.stringify({ t: 'q', i: 'again', m: 'sem:add', a: [2, 2] }))
      })
      ws.once('message', (d) => res(JSON.parse(d.toString()).r === 4))
      ws.once('error', () => res(false))
      ws.once('close', () => res(false))
    })
    ws.terminate()
  }
  assert.ok(served, 'a new client is served once the connections are gone')
  assert.equal(await client.rpc['sem:add'](2, 3), 5)
})
