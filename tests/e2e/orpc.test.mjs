// The oRPC HTTP endpoint against the real @orpc/client (RPCLink over fetch):
// values beyond JSON through Lua, typed errors, trust, GET for queries,
// file uploads, CORS, limits and bad input, and the README's curl examples.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import { createORPCClient, ORPCError } from '@orpc/client'
import { RPCLink } from '@orpc/client/fetch'
import { hostFor, rejectionOf, configDir, tempTree } from './lib/util.mjs'
import { E2E_TOKEN, repoRoot } from './lib/host.mjs'

/** An oRPC client for host; opts go to RPCLink (headers, method, fetch...). */
function orpc(host, opts = {}) {
  const link = new RPCLink({
    url: `http://127.0.0.1:${host.port}/rpc`,
    headers: { authorization: `Bearer ${E2E_TOKEN}` },
    ...opts,
  })
  return createORPCClient(link)
}

/** A raw HTTP exchange with fetch; the body parsed as JSON. */
async function post(host, path, body, headers = {}) {
  const res = await fetch(`http://127.0.0.1:${host.port}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json', ...headers },
    body,
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined }
}

/** An oRPC error body as the client reads it: asserts its shape. */
function assertErrorBody(res, status, code, message) {
  assert.equal(res.status, status)
  assert.equal(res.body.json.status, status)
  assert.equal(res.body.json.code, code)
  assert.equal(res.body.json.defined, false)
  if (message) assert.match(res.body.json.message, message)
}

/** The host still serves a normal call. */
async function assertServing(host) {
  assert.equal(await orpc(host).http.add({ a: 2, b: 3 }), 5)
}

async function orpcError(promise) {
  const err = await rejectionOf(promise)
  assert.ok(err instanceof ORPCError, `expected an ORPCError, got ${err}`)
  return err
}

test('plain values round-trip through a Lua handler', async (t) => {
  const host = await hostFor(t)
  const client = orpc(host)
  const values = [0, 42, -7, 1.5, 'héllo ✓', true, false, null, [1, [2, [3]]], { a: { b: [null, 'x'] } }, [], {}]
  for (const v of values) assert.deepEqual(await client.http.echo(v), v)
  // No input means no argument at all; null is one (nil) argument.
  assert.deepEqual(await client.http.argc(), { n: 0, first: 'nil' })
  assert.deepEqual(await client.http.argc(null), { n: 1, first: 'nil' })
  assert.deepEqual(await client.http.argc(3), { n: 1, first: 'number' })
  assert.equal(await client.http.echo(), undefined)
  assert.equal(await client.anonymous.http.ping(), 'pong')
  assert.equal(await client['http:add']({ a: 1, b: 1 }), 2) // a ':' in one path segment works too
})

test('an array input is the argument list of a function that declares two or more arguments', async (t) => {
  const host = await hostFor(t)
  const client = orpc(host)
  // Two or more declared: spread, with the schema checking each argument.
  assert.deepEqual(await client.http.span(['hello', 2, 3]), ['el', 3])
  assert.deepEqual(await client.http.span(['hello', 2]), ['ello', 3])
  assert.deepEqual(await client.http.pair([[1], { b: 2 }]), { a: [1], b: { b: 2 } })
  let err = await orpcError(client.http.span(['hello', 'x']))
  assert.equal(err.code, 'BAD_REQUEST')
  assert.equal(err.message, 'argument 2: expected integer, got string')
  // Anything but an array (or no input) cannot be an argument list.
  err = await orpcError(client.http.span({ s: 'hello', i: 2 }))
  assert.equal(err.status, 400)
  assert.equal(err.message, '"http:span" takes 3 arguments: send them as one array ("json": [...])')
  // One declared argument, or no schema: the array is the one argument.
  assert.equal(await client.http.sum([1, 2, 3]), 3)
  assert.deepEqual(await client.http.argc([1, 2]), { n: 1, first: 'table' })
  assert.deepEqual(await client.http.echo([1, 2]), [1, 2])
  // Raw HTTP as curl sends it, and GET for the query.
  const raw = await post(host, '/rpc/http/span', '{"json":["hello",2,3]}')
  assert.deepEqual(raw.body, { json: ['el', 3] })
  const get = await fetch(`http://127.0.0.1:${host.port}/rpc/http/span?data=${encodeURIComponent('{"json":["abc",2]}')}`,
    { headers: { authorization: `Bearer ${E2E_TOKEN}` } })
  assert.deepEqual(await get.json(), { json: ['bc', 3] })
  await assertServing(host)
})

test('Date, BigInt, Set, Map, RegExp, NaN, undefined and URL round-trip', async (t) => {
  const host = await hostFor(t)
  const client = orpc(host)
  const input = {
    when: new Date('2024-02-29T12:34:56.789Z'),
    big: 123456789012345678901234567890n,
    neg: -5n,
    tags: new Set(['a', 1, new Date(0)]),
    index: new Map([['k', 1], [2n, new Set([undefined])], [{ o: 1 }, [undefined, NaN]]]),
    nan: NaN,
    holes: [undefined, 1, undefined],
    deep: [{ d: [new Date(1)] }],
  }
  assert.deepEqual(await client.http.echo(input), input)
  // oRPC revives a RegExp lazily (a Proxy) and deepEqual treats invalid Dates as different.
  const out = await client.http.echo({ re: /a\/b+c/gi, invalid: new Date(NaN) })
  assert.equal(out.re.source, 'a\\/b+c')
  assert.equal(out.re.flags, 'gi')
  assert.ok(out.re.test('xA/BBC'))
  assert.ok(out.invalid instanceof Date && Number.isNaN(out.invalid.getTime()))
  const url = new URL('https://example.com/a?b=1')
  assert.deepEqual(await client.http.echo(url), url)
  assert.ok((await client.http.echo(url)) instanceof URL)
  assert.deepEqual(await client.http.echo({ url }), { url })
  assert.equal(await client.http.echo(10n ** 40n), 10n ** 40n)
  assert.deepEqual(await client.http.echo([undefined]), [undefined])
})

test('a moonhost.error arrives as a defined ORPCError with its code, status and data', async (t) => {
  const host = await hostFor(t)
  const client = orpc(host)
  let err = await orpcError(client.http.fail())
  assert.equal(err.code, 'CONFLICT')
  assert.equal(err.status, 409) // oRPC's status for CONFLICT
  assert.equal(err.defined, true)
  assert.equal(err.message, 'version conflict')
  assert.deepEqual(err.data, { current: 7, at: new Date(0) })
  // moonhost's own codes become oRPC's; a status of the plugin's choosing wins.
  err = await orpcError(client.http.fail({ code: 'bad_request' }))
  assert.equal(err.code, 'BAD_REQUEST')
  assert.equal(err.status, 400)
  err = await orpcError(client.http.fail({ code: 'OUT_OF_STOCK', status: 422 }))
  assert.equal(err.code, 'OUT_OF_STOCK')
  assert.equal(err.status, 422)
  err = await orpcError(client.http.fail({ code: 'my_code' }))
  assert.equal(err.status, 500)
  // A plain Lua error is an undefined internal error.
  err = await orpcError(client.http.crash())
  assert.equal(err.code, 'INTERNAL_SERVER_ERROR')
  assert.equal(err.status, 500)
  assert.equal(err.defined, false)
  assert.match(err.message, /boom/)
})

test('unknown functions are NOT_FOUND; without the token only anonymous:* answers', async (t) => {
  const host = await hostFor(t)
  let err = await orpcError(orpc(host).http.nope())
  assert.equal(err.code, 'NOT_FOUND')
  assert.equal(err.status, 404)
  assert.match(err.message, /http:nope/)

  const untrusted = orpc(host, { headers: {} })
  err = await orpcError(untrusted.http.echo(1))
  assert.equal(err.code, 'UNAUTHORIZED')
  assert.equal(err.status, 401)
  err = await orpcError(untrusted.http.nope()) // names are not revealed either
  assert.equal(err.code, 'UNAUTHORIZED')
  assert.equal(await untrusted.anonymous.http.ping(), 'pong')
  const wrong = orpc(host, { headers: { authorization: 'Bearer wrong' } })
  assert.equal((await orpcError(wrong.http.echo(1))).code, 'UNAUTHORIZED')
  // The token may also come as ?token= or the moonhost_token cookie.
  const viaQuery = orpc(host, { headers: {}, url: `http://127.0.0.1:${host.port}/rpc?token=${E2E_TOKEN}` })
  assert.equal(await viaQuery.http.echo(1), 1)
  const res = await post(host, `/rpc/http/echo?token=${E2E_TOKEN}`, '{"json":1}', { authorization: '' })
  assert.deepEqual(res.body, { json: 1 })
  const cookie = orpc(host, { headers: { cookie: `theme=dark; moonhost_token=${E2E_TOKEN}` } })
  assert.equal(await cookie.http.echo(2), 2)
})

test('GET with ?data= reaches queries and statics; GET on an action is 405', async (t) => {
  const host = await hostFor(t)
  const methods = []
  const client = orpc(host, {
    method: () => 'GET',
    fetch: (request, init) => {
      methods.push(request.method)
      return fetch(request, init)
    },
  })
  assert.equal(await client.http.add({ a: 40, b: 2 }), 42)
  assert.equal(await client.http.add({ a: 0.5, b: 0.25 }), 0.75)
  assert.equal(await client.http.version(), '1.2.3')
  assert.deepEqual(methods, ['GET', 'GET', 'GET'])
  const err = await orpcError(client.http.bump())
  assert.equal(err.code, 'METHOD_NOT_SUPPORTED')
  assert.equal(err.status, 405)
  // The same action by POST runs.
  assert.equal(await orpc(host).http.bump(), 1)
  // '&', '+', '%' and spaces inside the data survive the query string.
  assert.deepEqual(await client.http.add({ a: 1, b: 2, note: 'a & b + c %20 d=e' }), 3)
  const res = await fetch(`http://127.0.0.1:${host.port}/rpc/http/add?data=${encodeURIComponent('{"json":{"a":1,"b":2},"x":"&+"}')}`, {
    headers: { authorization: `Bearer ${E2E_TOKEN}` },
  })
  assert.deepEqual(await res.json(), { json: 3 })
  // A long ?data= (near RPCLink's 2083-character limit) and a ?token= after it.
  const data = encodeURIComponent(JSON.stringify({ json: { a: 1, b: 2, pad: 'x'.repeat(1800) } }))
  const long = await fetch(`http://127.0.0.1:${host.port}/rpc/http/add?data=${data}&token=${E2E_TOKEN}`)
  assert.deepEqual(await long.json(), { json: 3 })
})

test('files in the input arrive as {name, type, size, bytes} (multipart)', async (t) => {
  const host = await hostFor(t)
  const client = orpc(host)
  const out = await client.http.upload({ file: new File(['hello'], 'hello.txt', { type: 'text/plain' }), note: 'hi' })
  assert.deepEqual(out, { file: { name: 'hello.txt', type: 'text/plain', size: 5, length: 5, sum: 532 }, note: 'hi' })
  // Binary-safe: every byte value, NUL and CR LF included; a Blob without a name is "blob".
  const bytes = new Uint8Array(256).map((_, i) => i)
  const many = await client.http.upload({ files: [new Blob([bytes]), new File(['\r\n--x\r\n'], 'crlf.bin')] })
  assert.deepEqual(many[0], { name: 'blob', type: 'application/octet-stream', size: 256, length: 256, sum: 32640 })
  assert.equal(many[1].name, 'crlf.bin')
  assert.equal(many[1].size, 7)
  // A file as the whole input.
  const whole = await client.http.upload(new File(['abc'], 'a.txt', { type: 'text/plain' }))
  assert.deepEqual(whole, { name: 'a.txt', type: 'text/plain', size: 3, length: 3, sum: 294 })
})

test('CORS: allowed origins get a preflight and the allow-origin header; others 403', async (t) => {
  const host = await hostFor(t)
  const url = `http://127.0.0.1:${host.port}/rpc/http/echo`
  const pre = await fetch(url, {
    method: 'OPTIONS',
    headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' },
  })
  assert.equal(pre.status, 204)
  assert.equal(pre.headers.get('access-control-allow-origin'), 'http://localhost:5173')
  assert.equal(pre.headers.get('access-control-allow-methods'), 'GET, POST, OPTIONS')
  assert.match(pre.headers.get('access-control-allow-headers'), /content-type, authorization/)
  assert.equal(pre.headers.get('vary'), 'Origin')
  assert.ok(Number(pre.headers.get('access-control-max-age')) > 0)
  const res = await post(host, '/rpc/http/echo', '{"json":1}', { origin: 'http://127.0.0.1:3000' })
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('access-control-allow-origin'), 'http://127.0.0.1:3000')
  const evil = await fetch(url, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } })
  assert.equal(evil.status, 403)
  const evilPost = await fetch(url, { method: 'POST', body: '{"json":1}', headers: { origin: 'https://evil.example' } })
  assert.equal(evilPost.status, 403)
  assert.equal(evilPost.headers.get('access-control-allow-origin'), null)
  // No Origin (a tool): no CORS headers.
  assert.equal((await post(host, '/rpc/http/echo', '{"json":1}')).headers.get('access-control-allow-origin'), null)
})

test('bad input gets clear oRPC error bodies and the host keeps serving', async (t) => {
  const host = await hostFor(t)
  const cases = [
    ['{"json":', 400, 'BAD_REQUEST', /malformed JSON/],
    ['[1,2]', 400, 'BAD_REQUEST', /JSON object/],
    ['{"json":{"a":1},"meta":[[1,"b"]]}', 400, 'BAD_REQUEST', /meta\[0\]: path does not exist \(no "b"\)/],
    ['{"json":[1],"meta":[[1,5]]}', 400, 'BAD_REQUEST', /path does not exist \(no element 5\)/],
    ['{"json":1,"meta":[[1,"a","b"]]}', 400, 'BAD_REQUEST', /path does not exist/],
    ['{"meta":[[0]]}', 400, 'BAD_REQUEST', /type 0 \(bigint\)/],
    ['{"json":"x","meta":[[1]]}', 400, 'BAD_REQUEST', /type 1 \(date\) expects/],
    ['{"json":1,"meta":"nope"}', 400, 'BAD_REQUEST', /meta must be an array/],
    ['{"json":1,"meta":[["x"]]}', 400, 'BAD_REQUEST', /meta\[0\] must be/],
    ['{"json":1,"meta":[[42]]}', 400, 'BAD_REQUEST', /unknown type 42/],
    ['{"json":"\\ud800"}', 400, 'BAD_REQUEST', /malformed JSON at byte 9/], // a lone surrogate
    [Buffer.from([0x7b, 0x22, 0x6a, 0x73, 0x6f, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 400, 'BAD_REQUEST', /UTF-8/],
    ['{"json":' + '['.repeat(200) + ']'.repeat(200) + '}', 400, 'BAD_REQUEST', /nesting/],
  ]
  for (const [body, status, code, message] of cases) {
    assertErrorBody(await post(host, '/rpc/http/echo', body), status, code, message)
    await assertServing(host)
  }
  const multipart = await post(host, '/rpc/http/echo', '--b\r\nnonsense', { 'content-type': 'multipart/form-data; boundary=b' })
  assertErrorBody(multipart, 400, 'BAD_REQUEST', /multipart body/)
  // An empty body reads the same right after requests with one (an
  // exchange reuses a freed one's buffers: http_conn.c)
  for (let i = 0; i < 3; i++) {
    const empty = await post(host, '/rpc/http/echo', '', { 'content-type': 'multipart/form-data; boundary=b' })
    assertErrorBody(empty, 400, 'BAD_REQUEST', /^multipart body: it does not start with the boundary$/)
    assertErrorBody(await post(host, '/rpc/http/echo', '--b\r\nnonsense', { 'content-type': 'multipart/form-data; boundary=b' }),
      400, 'BAD_REQUEST', /^multipart body: part headers missing or too long$/)
  }
  const put = await fetch(`http://127.0.0.1:${host.port}/rpc/http/echo`, { method: 'PUT', body: '{}' })
  assert.equal(put.status, 405)
  assert.equal((await put.json()).json.code, 'METHOD_NOT_SUPPORTED')
  for (const path of ['/rpc', '/rpc/', '/rpc/http/echo/', '/rpc/http/echo/.']) {
    assertErrorBody(await post(host, path, '{}'), 404, 'NOT_FOUND')
  }
  // libwebsockets merges repeated slashes before the host sees the path.
  assert.deepEqual((await post(host, '/rpc/http//echo', '{"json":1}')).body, { json: 1 })
  await assertServing(host)
})

/** Sends raw bytes on a new socket; resolves with everything read until close. */
function rawHttp(host, request, { timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(host.port, '127.0.0.1', () => sock.write(request))
    let data = ''
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(data)}`))
    }, timeoutMs)
    sock.on('data', (d) => (data += d.toString('latin1')))
    sock.on('error', () => {})
    sock.on('close', () => {
      clearTimeout(timer)
      resolve(data)
    })
  })
}

test('path traversal never leaves the prefix and never names a file', async (t) => {
  const host = await hostFor(t)
  for (const path of ['/rpc/../etc/passwd', '/rpc/%2e%2e/x', '/rpc/..%2f..%2fetc/passwd', '/rpc/http/%2e%2e/%2e%2e/etc']) {
    const reply = await rawHttp(
      host,
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${E2E_TOKEN}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
    )
    assert.match(reply, /^HTTP\/1\.1 404 /, `${path}: ${reply}`)
    assert.doesNotMatch(reply, /root:/)
  }
  await assertServing(host)
})

test('a declared 2 GiB body is refused with 413 at once', async (t) => {
  const host = await hostFor(t)
  const started = Date.now()
  const req = http.request({
    host: '127.0.0.1',
    port: host.port,
    method: 'POST',
    path: '/rpc/http/echo',
    agent: false,
    headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json', 'content-length': String(2 ** 31) },
  })
  req.on('error', () => {}) // the host closes while we would still be sending
  req.write('{"json":"' + 'x'.repeat(1000))
  const [res] = await new Promise((resolve) => req.once('response', (r) => resolve([r])))
  let text = ''
  for await (const chunk of res) text += chunk
  assert.equal(res.statusCode, 413)
  const body = JSON.parse(text)
  assert.equal(body.json.code, 'PAYLOAD_TOO_LARGE')
  assert.equal(body.json.status, 413)
  assert.ok(Date.now() - started < 3000)
  req.destroy()
  await assertServing(host)
})

test('http.request_timeout_ms: a stalled body and a slow handler get 408; the late result is dropped', async (t) => {
  const config = configDir(t, { '10-http.lua': 'return { http = { request_timeout_ms = 400 } }' })
  const host = await hostFor(t, { config })
  // Half a body, then nothing.
  const req = http.request({
    host: '127.0.0.1',
    port: host.port,
    method: 'POST',
    path: '/rpc/http/echo',
    agent: false,
    headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json', 'content-length': '40' },
  })
  req.on('error', () => {})
  req.write('{"json":"only half')
  const res = await new Promise((resolve) => req.once('response', resolve))
  let text = ''
  for await (const chunk of res) text += chunk
  assert.equal(res.statusCode, 408)
  assert.equal(JSON.parse(text).json.code, 'TIMEOUT')
  await host.waitForLog(/408 the request body did not arrive/)
  // A handler that sleeps past the timeout.
  const err = await orpcError(orpc(host).http.slow(2))
  assert.equal(err.code, 'TIMEOUT')
  assert.equal(err.status, 408)
  await host.waitForLog(/no answer within http\.request_timeout_ms \(400 ms\)/)
  await assertServing(host)
})

test('a client that hangs up cancels its call; a streamed body to a function not declared for one gets 415', async (t) => {
  const host = await hostFor(t)
  const abort = new AbortController()
  const call = orpc(host).http.slow(30, { signal: abort.signal })
  await host.waitForLog(/slow started/)
  abort.abort()
  await rejectionOf(call)
  await host.waitForLog(/\/rpc\/http\/slow: the client left; call cancelled/)
  await assertServing(host)
  // A streamed body comes chunked; only input_stream functions take one
  // (orpc-input-stream.test.mjs).
  const req = http.request({
    host: '127.0.0.1',
    port: host.port,
    method: 'POST',
    path: '/rpc/http/echo',
    agent: false,
    headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'text/event-stream' },
  })
  req.on('error', () => {})
  req.write('event: message\ndata: 1\n\n') // no Content-Length: Node sends it chunked
  const res = await new Promise((resolve) => req.once('response', resolve))
  let text = ''
  for await (const chunk of res) text += chunk
  assert.equal(res.statusCode, 415)
  assert.equal(JSON.parse(text).json.code, 'UNSUPPORTED_MEDIA_TYPE')
  await assertServing(host)
})

test('connections are kept alive between requests', async (t) => {
  const host = await hostFor(t)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.after(() => agent.destroy())
  const call = () =>
    new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: host.port,
          method: 'POST',
          path: '/rpc/http/add',
          agent,
          headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json' },
        },
        (res) => {
          let text = ''
          res.on('data', (d) => (text += d))
          res.on('end', () => resolve({ reused: req.reusedSocket, body: JSON.parse(text) }))
        },
      )
      req.on('error', reject)
      req.end('{"json":{"a":1,"b":2}}')
    })
  const first = await call()
  const second = await call()
  assert.deepEqual(first, { reused: false, body: { json: 3 } })
  assert.deepEqual(second, { reused: true, body: { json: 3 } })
})

/** The curl examples of README "HTTP (oRPC)": each command and its expected output. */
function readmeExamples() {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const section = readme.split('\n## HTTP (oRPC)\n')[1].split('\n## ')[0]
  const examples = []
  for (const block of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    let cmd = ''
    for (const line of block[1].split('\n')) {
      if (line.startsWith('# ')) {
        examples.push({ cmd, want: JSON.parse(line.slice(2)) })
        cmd = ''
      } else if (line.trim()) {
        cmd += line + '\n'
      }
    }
  }
  return examples
}

test('every curl example in the README works as written', async (t) => {
  const host = await hostFor(t, { plugins: join(repoRoot, 'plugins') })
  const examples = readmeExamples()
  assert.ok(examples.length >= 5)
  for (const { cmd, want } of examples) {
    const run = cmd.replaceAll('127.0.0.1:7812', `127.0.0.1:${host.port}`)
    const out = await new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', run], { env: { ...process.env, TOKEN: E2E_TOKEN } })
      let stdout = ''
      child.stdout.on('data', (d) => (stdout += d))
      child.on('error', reject)
      child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${run}exited ${code}`))))
    })
    assert.deepEqual(JSON.parse(out), want, run)
  }
})

const WHO = `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'who',
  setup = function(ctx)
    local function me() return moonhost.caller() or 'nobody' end
    ctx.rpc.register(moonhost.define_rpc_function { name = 'who:me', type = 'action', handler = me })
    ctx.rpc.register(moonhost.define_rpc_function { name = 'anonymous:who:me', type = 'action', handler = me })
    ctx.rpc.register(moonhost.define_rpc_function { name = 'who:inner', type = 'action',
      handler = function() return { outer = me(), inner = moonhost.call('who:me') } end })
  end,
}
`

test('moonhost.caller() tells an HTTP request (trusted or not) from a client and from the host itself', async (t) => {
  const host = await hostFor(t, { plugins: tempTree(t, { 'who.lua': WHO }) })
  const overHttp = { id: 'http', http: true, trusted: true, connected: true }
  assert.deepEqual(await orpc(host).who.me(), overHttp)
  assert.deepEqual(await orpc(host, { headers: {} }).anonymous.who.me(), { ...overHttp, trusted: false })
  // A call the handler makes through the dispatcher is the host's own.
  assert.deepEqual(await orpc(host).who.inner(), { outer: overHttp, inner: 'nobody' })
  const { rpc, close } = await host.connect()
  t.after(close)
  const me = await rpc.$call('who:me')
  assert.match(me.id, /^c\d+$/)
  assert.deepEqual(me, { id: me.id, trusted: true, connected: true })
})
