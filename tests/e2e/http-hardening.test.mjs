// HTTP transport hardening (issue 13): pipelined requests, headers longer
// than any fixed buffer, the Host check (DNS rebinding), paths that are not
// UTF-8. Raw sockets (node:net) say exactly which bytes go out in which
// write; after each case the host must still answer a normal request.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect } from 'node:net'
import { E2E_TOKEN, writeTree } from './lib/host.mjs'
import { AUTH, assertServing, echo, exchange, get, post } from './lib/raw-http.mjs'
import { hostFor, testConfigSource, upgradeStatus } from './lib/util.mjs'

test('pipelining: answered in order, or the connection closed; the host keeps serving', async (t) => {
  const host = await hostFor(t)
  await t.test('POST+POST in one write (the freeze of issue 13)', async () => {
    const plain = post('/rpc/http/echo', '{}', '')
    const r = await exchange(host, [plain + plain])
    assert.ok(r.closedByHost)
    assert.equal(r.responses.length, 1)
    assert.equal(r.responses[0].status, 401)
    await host.waitForLog(/a pipelined request with a body: closing the connection/)
    await assertServing(host)
  })
  await t.test('GET+POST: the GET is answered, then the connection closes', async () => {
    const r = await exchange(host, [get() + echo(1)])
    assert.ok(r.closedByHost)
    assert.deepEqual(r.responses.map((x) => x.status), [200])
    await assertServing(host)
  })
  await t.test('10 GETs in one write: 10 answers, in order', async () => {
    const paths = Array.from({ length: 10 }, (_, i) => (i % 2 ? '/__moonhost/health' : '/__devtools/__connection.json'))
    const r = await exchange(host, [paths.map((p) => get(p)).join('')], { until: 10 })
    assert.equal(r.responses.length, 10)
    r.responses.forEach((x, i) => {
      assert.equal(x.status, 200)
      assert.equal(x.body.includes('"version"'), i % 2 === 1, `answer ${i} is for ${paths[i]}`)
    })
    await assertServing(host)
  })
  await t.test('10 POSTs in one write: the first is answered, the connection closes', async () => {
    const r = await exchange(host, [Array.from({ length: 10 }, (_, i) => echo(i)).join('')])
    assert.ok(r.closedByHost)
    assert.equal(r.responses.length, 1)
    assert.equal(JSON.parse(r.responses[0].body).json, 0)
    await assertServing(host)
  })
  await t.test('a body split across writes, then the next request after the answer (keep-alive)', async () => {
    const whole = echo('split')
    const cut = whole.indexOf('\r\n\r\n') + 6
    const r = await exchange(host, [whole.slice(0, 20), whole.slice(20, cut), whole.slice(cut), echo('second')], {
      until: 2,
      waitFor: [0, 0, 0, 1],
    })
    assert.deepEqual(r.responses.map((x) => JSON.parse(x.body).json), ['split', 'second'])
  })
  await t.test('a request pipelined behind a slow call waits for it, in order', async () => {
    const slow = post('/rpc/coro/sleep', JSON.stringify({ json: 0.3 }))
    const r = await exchange(host, [slow + get() + get()], { until: 3 })
    assert.deepEqual(r.responses.map((x) => x.status), [200, 200, 200])
    assert.equal(JSON.parse(r.responses[0].body).json, 'slept:nil')
    const r2 = await exchange(host, [slow + echo('after slow')])
    assert.ok(r2.closedByHost)
    assert.deepEqual(r2.responses.map((x) => JSON.parse(x.body).json), ['slept:nil'])
    await assertServing(host)
  })
  await t.test('a request sent while a slow call runs, in a second write', async () => {
    const slow = post('/rpc/coro/sleep', JSON.stringify({ json: 0.3 }))
    const before = (host.log.match(/coro:sleep nil started/g) || []).length
    const started = host.waitForLogCount(/coro:sleep nil started/, before + 1)
    const r = await exchange(host, [slow, echo('during')], { after: [null, started] })
    assert.deepEqual(r.responses.map((x) => JSON.parse(x.body).json), ['slept:nil'])
    assert.ok(r.closedByHost)
    await assertServing(host)
  })
  await t.test('HEAD+GET: the HEAD answer has no body, so the GET answer is not misread', async () => {
    const head = 'HEAD /__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
    const text = await new Promise((resolve, reject) => {
      const sock = tcpConnect(host.port, '127.0.0.1', () => sock.write(head + get()))
      let data = ''
      sock.on('data', (d) => {
        data += d.toString('latin1')
        // Both answers in: the GET's body ends with the health document's '}'.
        if ((data.match(/HTTP\/1\.1 /g) || []).length === 2 && data.endsWith('}')) {
          sock.destroy()
          resolve(data)
        }
      })
      sock.on('error', reject)
      sock.on('end', () => resolve(data))
    })
    const [first, second] = text.split(/(?=HTTP\/1\.1 )/)
    assert.match(first, /^HTTP\/1\.1 200 [^]*content-length: \d+\r\n[^]*\r\n\r\n$/i, 'headers only')
    assert.match(second, /^HTTP\/1\.1 200 [^]*\r\n\r\n\{"ok":true/)
    await assertServing(host)
  })
  await t.test('a GET with a body is answered and the connection closed', async () => {
    const r = await exchange(host, ['GET /__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello' + get()])
    assert.ok(r.closedByHost)
    assert.deepEqual(r.responses.map((x) => x.status), [200])
    await assertServing(host)
  })
  await t.test('a Content-Length that is not a number is refused', async () => {
    const r = await exchange(host, [
      `POST /rpc/http/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n${AUTH}Content-Length: 2x\r\n\r\n{}`,
    ])
    assert.deepEqual(r.responses.map((x) => x.status), [400])
    await assertServing(host)
  })
})


test('Origin: a header longer than any buffer is read whole', async (t) => {
  const host = await hostFor(t)
  const foreign = `http://${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(60)}.example`
  const loopback = `http://${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(60)}.localhost:5173`
  assert.ok(foreign.length >= 256)
  assert.equal(await upgradeStatus(host, '/__ws', { Origin: foreign }), 403)
  assert.equal(await upgradeStatus(host, '/__ws', { Origin: loopback }), 101)
  await host.waitForLog(/origin http:\/\/a{63}\.b+\.c+\.d+\.example refused/)
  const r = await exchange(host, [`GET /__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${foreign}\r\n\r\n`])
  assert.deepEqual(r.responses.map((x) => x.status), [403])
  const ok = await exchange(host, [`GET /__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${loopback}\r\n\r\n`], {
    until: 1,
  })
  assert.deepEqual(ok.responses.map((x) => x.status), [200])
  // A NUL inside the value would let lws hand over only the part before it.
  const nul = await exchange(host, [`GET /__moonhost/health HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://localhost\0.evil.example\r\n\r\n`])
  assert.notEqual(nul.responses[0]?.status, 200)
  await assertServing(host)
})

test('Host: only loopback names, addresses and auth.allowed_hosts (DNS rebinding)', async (t) => {
  const config = writeTree({
    '00-test.lua': testConfigSource(),
    '10-hosts.lua': "return { auth = { allowed_hosts = { 'devbox.example.test', '.lan.example' } } }\n",
  })
  const host = await hostFor(t, { config })
  const status = async (hostHeader) => {
    const r = await exchange(host, [get('/__moonhost/health', hostHeader)], { until: 1 })
    return r.responses[0]?.status
  }
  for (const ok of ['127.0.0.1', `127.0.0.1:${host.port}`, `localhost:${host.port}`, 'app.localhost', '[::1]:80',
    '192.168.1.20:7812', 'DEVBOX.example.test', 'lan.example', 'a.b.lan.example:1'])
    assert.equal(await status(ok), 200, ok)
  for (const bad of ['evil.example', `rebind.evil.example:${host.port}`, 'devbox.example.test.evil', 'xlan.example',
    'localhost.evil.example', '127.0.0.1.evil.example', 'localhost:80/x', ''])
    assert.equal(await status(bad), bad === '' ? 400 : 403, bad)
  await host.waitForLog(/Host rebind\.evil\.example:\d+ refused/)
  // No Host header at all: HTTP/1.1 requires one.
  const none = await exchange(host, ['GET /__moonhost/health HTTP/1.1\r\n\r\n'])
  assert.deepEqual(none.responses.map((x) => x.status), [400])
  // The WebSocket upgrade passes the same check.
  assert.equal(await upgradeStatus(host, '/__ws', { Host: `evil.example:${host.port}` }), 403)
  assert.equal(await upgradeStatus(host, '/__ws', { Host: 'devbox.example.test' }), 101)
  const c = await host.connect()
  assert.equal(await c.rpc['http:echo']('ws'), 'ws')
  c.close()
  await assertServing(host)
})

test('an oRPC path that is not UTF-8 gets 400, not 500', async (t) => {
  const host = await hostFor(t)
  const r = await exchange(host, [post('/rpc/http/%ff%fe', '{}')], { until: 1 })
  assert.equal(r.responses[0].status, 400)
  assert.match(JSON.parse(r.responses[0].body).json.message, /not valid UTF-8/)
  const raw = await exchange(host, [Buffer.concat([Buffer.from('POST /rpc/http/'), Buffer.from([0xc3, 0x28]),
    Buffer.from(` HTTP/1.1\r\nHost: 127.0.0.1\r\n${AUTH}Content-Length: 2\r\n\r\n{}`)])], { until: 1 })
  assert.equal(raw.responses[0].status, 400)
  await assertServing(host)
})


test('PUT, PATCH and POST with Content-Length: 0 are answered at once (lws never says an empty PUT body is complete)', async (t) => {
  const host = await hostFor(t)
  for (const method of ['PUT', 'PATCH', 'POST']) {
    const empty = `${method} /rpc/http/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n${AUTH}Content-Length: 0\r\n\r\n`
    const r = await exchange(host, [empty + get()], { until: 2 })
    assert.equal(r.responses[0].status, method === 'POST' ? 200 : 405, `${method}: ${r.responses[0].body}`)
    assert.equal(r.responses[1]?.status, 200, `${method}: the next request on the connection is answered too`)
  }
  await assertServing(host)
})

test("libwebsockets' own error lines still reach the log (the level check moonhost puts in front of lws' logging)", async (t) => {
  const host = await hostFor(t)
  // A request line longer than lws' header space: lws logs an error and drops the connection.
  await exchange(host, [`GET /${'a'.repeat(5000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`])
  await host.waitForLog(/\[lws\] Ran out of header data space/)
  await assertServing(host)
})

test('responses of every size arrive whole: small ones (headers and body in one write) and bodies over 16 KiB', async (t) => {
  const host = await hostFor(t)
  for (const v of ['', 'x', 'y'.repeat(16000), 'z'.repeat(17000), 'w'.repeat(70000)]) {
    const { responses } = await exchange(host, [echo(v)], { until: 1 })
    assert.equal(responses[0].status, 200)
    assert.deepEqual(JSON.parse(responses[0].body).json, v)
  }
  await assertServing(host)
})

test('each head is HTTP/1 as lws would write it: the request version, a reason phrase, the length in bytes', async (t) => {
  // moonhost writes the status line and length of a whole response itself
  // (host/transport/http_head.c) instead of through lws' formatter.
  const host = await hostFor(t)
  const utf8 = 'été ☃ 𝄞'
  const r = await exchange(host, [echo(utf8) + get('/nope')], { until: 2 })
  assert.match(r.responses[0].head, /^HTTP\/1\.1 200 OK\r\ncontent-type: application\/json\r\ncontent-length: \d+\r\n/)
  assert.equal(Number(/content-length: (\d+)/.exec(r.responses[0].head)[1]), Buffer.byteLength(JSON.stringify({ json: utf8 })))
  assert.deepEqual(JSON.parse(r.responses[0].body).json, utf8)
  assert.match(r.responses[1].head, /^HTTP\/1\.1 404 Not Found\r\n/)
  const old = await exchange(host, ['GET /__moonhost/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n'])
  assert.ok(old.closedByHost, 'HTTP/1.0 without keep-alive: closed after the answer')
  assert.match(old.responses[0].head, /^HTTP\/1\.0 200 OK\r\n/)
  const bad = await exchange(host, [post('/rpc/http/echo', '{}', '')], { until: 1 })
  assert.match(bad.responses[0].head, /^HTTP\/1\.1 401 Unauthorized\r\n/)
  await assertServing(host)
})

test('a body over the limit gets its 413 whole: the host reads and drops the rest before closing, so the client is not reset mid-send', async (t) => {
  const host = await hostFor(t)
  const body = JSON.stringify({ json: 'z'.repeat(3 * 1024 * 1024) })
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`http://127.0.0.1:${host.port}/rpc/http/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${E2E_TOKEN}` },
      body,
    })
    assert.equal(res.status, 413)
    assert.match(await res.text(), /over limits\.max_message_bytes/)
  }
  await assertServing(host)
})

test('headers sent twice or holding a NUL are read as lws joins them, not as their first part', async (t) => {
  const host = await hostFor(t)
  // http_conn.c copies a one-part header in one memcpy; anything else the way lws_hdr_copy does.
  const body = JSON.stringify({ json: 7 })
  const statusOf = async (headers, payload = body) => {
    const r = await exchange(host, [`POST /rpc/http/echo HTTP/1.1\r\n${headers}Content-Type: application/json\r\n\r\n${payload}`], { until: 1 })
    return r.responses[0]?.status
  }
  const len = `Content-Length: ${body.length}\r\n`
  const hostLine = 'Host: 127.0.0.1\r\n'
  assert.equal(await statusOf(hostLine + AUTH + len), 200)
  // Host twice: "127.0.0.1,127.0.0.1" is no host name
  assert.equal(await statusOf(hostLine + hostLine + AUTH + len), 403)
  // a NUL in Host: unreadable
  assert.equal(await statusOf('Host: 127.0.0.1\0x\r\n' + AUTH + len), 500)
  // Authorization twice: "Bearer T,Bearer T" holds no token of ours
  assert.equal(await statusOf(hostLine + AUTH + AUTH + len), 401)
  // a NUL in it: the token is what comes before the NUL (as before: lws_hdr_copy stops there)
  assert.equal(await statusOf(hostLine + `Authorization: Bearer ${E2E_TOKEN}\0x\r\n` + len), 200)
  // Content-Length twice: "N,N" is not a number
  assert.equal(await statusOf(hostLine + AUTH + len + len), 400)
  await host.waitForLog(/Content-Length is not a number/)
  // the token in a cookie: lws joins two Cookie headers with nothing between
  // them ("a=bmoonhost_token=T", "moonhost_token=Ta=b"), so only one header counts
  const cookie = (v) => `Cookie: ${v}\r\n`
  assert.equal(await statusOf(hostLine + cookie(`moonhost_token=${E2E_TOKEN}`) + len), 200)
  assert.equal(await statusOf(hostLine + cookie('a=b') + cookie(`moonhost_token=${E2E_TOKEN}`) + len), 401)
  assert.equal(await statusOf(hostLine + cookie(`moonhost_token=${E2E_TOKEN}`) + cookie('a=b') + len), 401)
  assert.equal(await statusOf(hostLine + AUTH + len), 200)
})
