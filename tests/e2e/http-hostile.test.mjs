// Hostile HTTP/1.1 framing against a real host, over raw sockets: a body is
// never answered as a request, a connection the host closes after an answer
// is announced with `connection: close`, and after each case the host still
// answers promptly over HTTP (@orpc/client) and WebSocket (birpc).
import { test } from 'node:test'
import assert from 'node:assert/strict'
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
    sock.on('error', (e) => (ended ? null : reject(e)))
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

