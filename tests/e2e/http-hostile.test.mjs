// Hostile HTTP/1.1 framing against a real host, over raw sockets: a body is
// never answered as a request, a connection the host closes after an answer
// is announced with `connection: close`, and after each case the host still
// answers promptly over HTTP (@orpc/client) and WebSocket (birpc).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { connect as tcpConnect } from 'node:net'
import { createORPCClient } from '@orpc/client'
import { RPCLink } from '@orpc/client/fetch'
import { E2E_TOKEN } from './lib/host.mjs'
import { AUTH, assertServing, echo, exchange, get, parseResponses, post } from './lib/raw-http.mjs'
import { configDir, hostFor } from './lib/util.mjs'

const saysClose = (r) => /\r\nconnection: close\r\n/i.test(`${r.head}\r\n`)
/** The status of each answer in a raw byte stream (HEAD answers have no body to count by). */
const answers = (text) => [...text.matchAll(/^HTTP\/1\.[01] (\d+)/gm)].map((m) => Number(m[1]))

/** /healthz within 2 s, an @orpc/client call and a WebSocket call. */
async function assertHealthy(host) {
  const t0 = performance.now()
  const res = await fetch(`http://127.0.0.1:${host.port}/healthz`, { signal: AbortSignal.timeout(2000) })
  assert.equal(res.status, 200)
  await res.text()
  assert.ok(performance.now() - t0 < 2000, 'the loop answers at once (no spin)')
  const client = createORPCClient(new RPCLink({
    url: `http://127.0.0.1:${host.port}/rpc`,
    headers: { authorization: `Bearer ${E2E_TOKEN}` },
  }))
  assert.deepEqual(await client.http.echo({ still: 'here' }), { still: 'here' })
  const ws = await host.connect()
  assert.equal(await ws.rpc['http:echo']('ws'), 'ws')
  ws.close()
  await assertServing(host)
}

/** A host whose request timeout a test can reach quickly. */
const quickHost = (t) =>
  hostFor(t, { config: configDir(t, { '10-http.lua': 'return { http = { request_timeout_ms = 800 } }\n' }) })

/** Writes each of chunks as its own write, the next once the last is flushed. */
function trickle(host, chunks, { until, gapMs = 0, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect(host.port, '127.0.0.1')
    sock.setNoDelay(true)
    let data = Buffer.alloc(0)
    let ended = false
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new Error(`trickle: nothing ended within ${timeoutMs} ms; got ${JSON.stringify(data.toString('latin1'))}`))
    }, timeoutMs)
    const done = (closedByHost) => {
      clearTimeout(timer)
      ended = true
      sock.destroy()
      resolve({ text: data.toString('latin1'), closedByHost })
    }
    sock.on('connect', async () => {
      for (const c of chunks) {
        if (ended) return
        await new Promise((res) => sock.write(c, res))
        if (gapMs) await new Promise((res) => setTimeout(res, gapMs)) // pacing, not synchronisation
      }
    })
    sock.on('data', (d) => {
      data = Buffer.concat([data, d])
      if (until && until(data)) done(false)
    })
    sock.on('end', () => done(true))
    // A write into a connection the host closed: it closed it.
    sock.on('error', (e) => (ended ? null : ['EPIPE', 'ECONNRESET'].includes(e.code) ? done(true) : reject(e)))
  })
}

test('a body is never read as the next request, whatever the method', async (t) => {
  const host = await hostFor(t)
  const smuggled = get('/smuggled')
  const refusals = []
  for (const method of ['GET', 'HEAD', 'DELETE', 'OPTIONS']) {
    // A chunked body on a method that takes none: lws 4.1 ignored the
    // coding and parsed the chunks (and the request inside) as requests.
    refusals.push([method, 411, `${method} /__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`])
    // A Content-Length lws reads as a negative number (atoll): the request
    // after it went unanswered; one it reads as positive was a body.
    for (const cl of ['-38', '+0', '5x', '1 2', '99999999999999999999'])
      refusals.push([`${method} Content-Length: ${cl}`, 400,
        `${method} /__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${cl}\r\n\r\n${smuggled}`])
  }
  for (const [what, status, request] of refusals) {
    // read to the close: a HEAD answer has no body to count by
    const r = await trickle(host, [request])
    assert.deepEqual(answers(r.text), [status], what)
    assert.ok(r.closedByHost, `${what}: closed`)
    assert.match(r.text, /\r\nconnection: close\r\n/i, `${what}: connection: close announced`)
  }
  await host.waitForLog(/GET \/__moonhost\/health: 411 this transfer coding is not supported/)
  await host.waitForLog(/DELETE \/__moonhost\/health: 400 Content-Length is not a number/)
  assert.doesNotMatch(host.log, /\/smuggled/, 'the smuggled request was never handled')
  await assertHealthy(host)
})

test('CONNECT is answered 405 and the connection closed (it was left open, unanswered, for as long as the client liked)', async (t) => {
  const host = await hostFor(t)
  for (const target of ['127.0.0.1:80', '/__moonhost/health']) {
    const r = await exchange(host, [`CONNECT ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${get()}`])
    assert.deepEqual(r.responses.map((x) => x.status), [405], target)
    assert.ok(saysClose(r.responses[0]) && r.closedByHost, `${target}: connection: close, then closed`)
    assert.match(r.responses[0].body, /no proxy/)
  }
  await host.waitForLog(/a CONNECT request: 405, closing/)
  await assertHealthy(host)
})

test('a client that ends the connection is told connection: close, and the host closes after the answer', async (t) => {
  const host = await hostFor(t)
  const health = (version, connection) =>
    `GET /__moonhost/health HTTP/${version}\r\nHost: 127.0.0.1\r\n${connection ? `Connection: ${connection}\r\n` : ''}\r\n`
  const closing = [
    ['1.1', 'close'],
    ['1.1', 'Close'],
    ['1.1', 'close, TE'], // lws 4.1 kept this one open: it reads only an exact "close"
    ['1.1', 'TE,close'],
    ['1.0', null],
    ['1.0', 'close'],
  ]
  for (const [version, connection] of closing) {
    const r = await exchange(host, [health(version, connection) + get()])
    assert.deepEqual(r.responses.map((x) => x.status), [200], `HTTP/${version} Connection: ${connection}`)
    assert.ok(saysClose(r.responses[0]), `HTTP/${version} Connection: ${connection}: the answer says connection: close`)
    assert.ok(r.closedByHost)
  }
  // a POST's answer too, and an error's
  const p = await exchange(host, [post('/rpc/http/echo', '{"json":1}', `${AUTH}Connection: close\r\n`) + get()])
  assert.deepEqual(p.responses.map((x) => [x.status, saysClose(x)]), [[200, true]])
  const e = await exchange(host, [post('/rpc/http/echo', '{}', 'Connection: close\r\n') + get()])
  assert.deepEqual(e.responses.map((x) => [x.status, saysClose(x)]), [[401, true]])
  // keep-alive stays keep-alive, without the header
  for (const [version, connection] of [['1.1', null], ['1.1', 'keep-alive'], ['1.0', 'keep-alive']]) {
    const r = await exchange(host, [health(version, connection) + health(version, connection)], { until: 2 })
    assert.deepEqual(r.responses.map((x) => [x.status, saysClose(x)]), [[200, false], [200, false]], `HTTP/${version} ${connection}`)
  }
  await assertHealthy(host)
})

test('after every error status the next request on the connection is answered, or the error said connection: close and the host closed', async (t) => {
  const host = await quickHost(t)
  const chunked = (method, path) =>
    `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${AUTH}Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`
  const cases = [
    // [what, request, status, closes]
    ['body not JSON', post('/rpc/http/echo', '{"json":'), 400, false],
    ['Content-Length not a number', `POST /rpc/http/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n${AUTH}Content-Length: 0x2\r\n\r\n{}`, 400, true],
    ['no token', post('/rpc/http/echo', '{}', ''), 401, false],
    ['Origin refused', `GET /__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n\r\n`, 403, true],
    ['Host refused', get('/__moonhost/health', 'evil.example'), 403, true],
    ['no route', get('/nope'), 404, false],
    ['no function', post('/rpc/http/nope', '{}'), 404, false],
    ['DELETE on a function', `DELETE /rpc/http/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n${AUTH}\r\n`, 405, false],
    ['GET on an action', `GET /rpc/http/bump HTTP/1.1\r\nHost: 127.0.0.1\r\n${AUTH}\r\n`, 405, false],
    ['PUT with a body', `PUT /rpc/http/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n${AUTH}Content-Length: 2\r\n\r\n{}`, 405, false],
    ['body cut short', `POST /rpc/http/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n${AUTH}Content-Length: 20\r\n\r\n{"json"`, 408, true],
    ['PUT chunked', chunked('PUT', '/rpc/http/echo'), 411, true],
    ['declared over the limit', `POST /rpc/http/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n${AUTH}Content-Length: 5000000\r\n\r\n{}`, 413, true],
    ['chunked to a function that takes no stream', chunked('POST', '/rpc/http/echo'), 415, true],
  ]
  for (const [what, request, status, closes] of cases) {
    // the next request goes out once the error answer is in
    const r = await exchange(host, [request, get('/healthz')], { waitFor: [0, 1], until: 2 })
    assert.equal(r.responses[0]?.status, status, what)
    assert.equal(saysClose(r.responses[0]), closes, `${what}: connection: close ${closes ? '' : 'not '}announced`)
    if (closes) {
      assert.ok(r.closedByHost, `${what}: closed`)
      assert.equal(r.responses.length, 1, what)
    } else {
      assert.equal(r.responses[1]?.status, 200, `${what}: the next request is answered`)
    }
  }
  // 429: untrusted calls over their shared rate, the health check behind them
  const ping = 'GET /rpc/anonymous/http/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
  const flood = await exchange(host, [ping.repeat(30) + get('/healthz')], { until: 31 })
  const statuses = flood.responses.map((x) => x.status)
  assert.ok(statuses.slice(0, 30).includes(429), `some calls over the rate: ${statuses}`)
  assert.ok(flood.responses.slice(0, 30).every((x) => !saysClose(x)))
  assert.equal(statuses[30], 200)
  await assertHealthy(host)
})

test('pipelined requests split at every byte boundary, and 100 in one write, are answered in order', async (t) => {
  const host = await hostFor(t)
  const bytes = (s) => [...Buffer.from(s)].map((b) => Buffer.from([b]))
  for (const [what, stream, want] of [
    ['POST then GET', echo('one byte at a time') + get('/nope'), [200, 404]],
    ['GET then POST', get('/nope') + echo('one byte at a time'), [404, 200]],
  ]) {
    const r = await trickle(host, bytes(stream), { until: (data) => parseResponses(data).responses.length === 2 })
    const { responses } = parseResponses(Buffer.from(r.text, 'latin1'))
    // A loaded host may read several of the bytes at once: a POST whose
    // start was read with the GET is then a pipelined request with a body,
    // which closes the connection after the GET's answer (docs/security.md).
    if (what === 'GET then POST' && responses.length === 1) {
      assert.deepEqual(responses.map((x) => x.status), [404], what)
      assert.ok(r.closedByHost, what)
      continue
    }
    assert.deepEqual(responses.map((x) => x.status), want, what)
    assert.ok(responses.some((x) => x.body === '{"json":"one byte at a time"}'), what)
  }
  // 100 GETs (past lws' 4 KiB read buffer) and then a POST: the GETs are
  // answered in order, the POST closes the connection (docs/security.md)
  const paths = Array.from({ length: 100 }, (_, i) => (i % 3 ? '/healthz' : `/nope${i}`))
  const r = await exchange(host, [paths.map((p) => get(p)).join('') + echo('after 100')])
  assert.deepEqual(r.responses.map((x) => x.status), paths.map((p) => (p === '/healthz' ? 200 : 404)))
  assert.ok(r.closedByHost)
  await assertHealthy(host)
})

test('headers that trickle in forever are cut off by libwebsockets (10 s), without an answer', async (t) => {
  const host = await quickHost(t)
  // one byte every 50 ms (20 s of them): never idle, never done
  const forever = [...Buffer.from(`GET /__moonhost/health HTTP/1.1\r\nX-Pad: ${'a'.repeat(360)}`)].map((b) => Buffer.from([b]))
  const t0 = performance.now()
  const r = await trickle(host, forever, { gapMs: 50, timeoutMs: 16000 })
  const took = performance.now() - t0
  assert.ok(r.closedByHost)
  assert.equal(r.text, '', 'no answer')
  assert.ok(took > 8000 && took < 15000, `closed after ${Math.round(took)} ms`)
  await assertHealthy(host)
})

test('what libwebsockets refuses by itself: a 403 or a close, never an answer to what follows', async (t) => {
  const host = await hostFor(t)
  const refused = [
    'PROPFIND /__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    `${'X'.repeat(40)} /__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    `GET http://127.0.0.1:${host.port}/__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    'OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    get('/__moonhost/health%00'),
    get(`/${'a'.repeat(9000)}`),
    `GET /__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(65536)}\r\n\r\n`,
  ]
  for (const request of refused) {
    const r = await exchange(host, [request + get()])
    assert.ok(r.closedByHost, request.slice(0, 40))
    assert.ok(r.responses.length === 0 || (r.responses.length === 1 && r.responses[0].status === 403), request.slice(0, 40))
  }
  await assertHealthy(host)
})

test('a flood of refused requests logs a few lines a second, not one each (docs: "Log floods")', async (t) => {
  const host = await hostFor(t)
  const count = (re) => (host.log.match(new RegExp(re.source, 'g')) || []).length
  const floods = [
    [/: 400 Content-Length is not a number/, 'GET /__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n'],
    [/Host evil\.example refused/, get('/__moonhost/health', 'evil.example')],
    [/origin http:\/\/evil\.example refused/, 'GET /__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n\r\n'],
    [/upgrade refused: 404/, 'GET /nows HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'],
  ]
  for (const [line, request] of floods) {
    const t0 = performance.now()
    const rs = await Promise.all(Array.from({ length: 200 }, () => exchange(host, [request])))
    const secs = (performance.now() - t0) / 1000
    assert.ok(rs.every((r) => r.closedByHost && r.responses.length === 1), `${line}: each answered once, then closed`)
    await host.waitForLog(line)
    // 20 at once, then 10 a second (MH_LOG_SITE_BURST, MH_LOG_SITE_PER_S)
    assert.ok(count(line) <= 20 + 10 * Math.ceil(secs) + 1, `${line}: ${count(line)} lines for 200 requests in ${secs.toFixed(2)} s`)
  }
  await assertHealthy(host)
})

test("a kept-alive connection idle past Node's pool timeout (5 s) is still open: a pooled client never sends into the host's close", async (t) => {
  // lws closed it after 5 s, when Node's http.Agent also lets a free socket
  // go: a client whose loop was busy for a few ms then got ECONNRESET.
  const host = await hostFor(t)
  const agent = new http.Agent({ keepAlive: true, timeout: 10000 })
  t.after(() => agent.destroy())
  const get = () => new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: host.port, path: '/healthz', agent }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode, reused: req.reusedSocket }))
    })
    req.on('error', reject)
  })
  assert.equal((await get()).status, 200)
  const [socket] = Object.values(agent.freeSockets).flat()
  let closed = false
  socket.once('close', () => (closed = true))
  await new Promise((resolve) => setTimeout(resolve, 6000)) // the idle time itself, not a synchronisation
  assert.equal(closed, false, 'the host left the idle connection open')
  assert.deepEqual(await get(), { status: 200, reused: true })
  await assertHealthy(host)
})
