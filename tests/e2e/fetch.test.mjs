// moonhost.fetch: a Lua handler fetches over HTTP and HTTPS without
// blocking the host; names resolve off the loop; a timeout, a body over
// max_body, a refused connection, an unknown name, a certificate that does
// not verify and too many redirects are clear errors; a cancelled call
// closes the connection; the host keeps serving.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer } from 'node:net'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { deferred, hostFor, rejectionOf, tempDir, tempTree } from './lib/util.mjs'
import { E2E_TOKEN, runMoonhost } from './lib/host.mjs'

const PLUGIN = `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'fx',
  setup = function(ctx)
    local function fn(def) ctx.rpc.register(moonhost.define_rpc_function(def)) end
    fn { name = 'fx:get', type = 'action', args = { 'any', 'any' }, handler = function(url, opts)
      return moonhost.fetch(url, opts)
    end }
    fn { name = 'fx:ping', type = 'action', handler = function() return 'pong' end }
    fn { name = 'fx:nul_header', type = 'action', args = { 'any' }, handler = function(url)
      return moonhost.fetch(url, { headers = { authorization = 'Bearer s3cret\\r\\nx-evil: 1' } })
    end }
    -- The error a plugin catches: a table with its message.
    fn { name = 'fx:caught', type = 'action', args = { 'any' }, handler = function(url)
      local ok, err = pcall(moonhost.fetch, url)
      return { ok = ok, message = tostring(err) }
    end }
  end,
}
`

/** A node server on 127.0.0.1 (an ephemeral port) answering with handler; closed when t ends. */
async function remote(t, handler, make = createHttpServer, options = {}) {
  const sockets = new Set()
  const server = make(options, handler)
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return { server, port: server.address().port, base: `http${make === createHttpsServer ? 's' : ''}://127.0.0.1:${server.address().port}` }
}

async function startFx(t) {
  const host = await hostFor(t, { plugins: tempTree(t, { 'fx.lua': PLUGIN }) })
  const { rpc, close } = await host.connect()
  t.after(close)
  return { host, rpc }
}

/** A port nothing listens on: bound, then closed. */
async function closedPort() {
  const s = createNetServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address()
  s.close()
  await once(s, 'close')
  return port
}

test('GET: status, lower-case headers, body, final URL and time; a 404 is an answer', async (t) => {
  const { rpc } = await startFx(t)
  const { base } = await remote(t, (req, res) => {
    if (req.url === '/missing') {
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('no such thing')
      return
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=5', 'X-Request-Id': 'r-1', 'X-Other': 'o' })
    res.end(JSON.stringify({ path: req.url, host: req.headers.host }))
  })
  const r = await rpc.$call('fx:get', `${base}/a/b?x=1&y=%20`)
  assert.equal(r.status, 200)
  assert.equal(r.headers['content-type'], 'application/json')
  assert.equal(r.headers['cache-control'], 'max-age=5')
  assert.deepEqual(JSON.parse(r.body), { path: '/a/b?x=1&y=%20', host: base.slice('http://'.length) })
  assert.equal(r.url, `${base}/a/b?x=1&y=%20`)
  // Headers libwebsockets has no name for come only when asked for.
  assert.equal(r.headers['x-request-id'], undefined)
  const asked = await rpc.$call('fx:get', `${base}/`, { response_headers: ['X-Request-Id', 'x-missing'] })
  assert.equal(asked.headers['x-request-id'], 'r-1')
  assert.equal(asked.headers['x-missing'], undefined)
  assert.equal(asked.headers['x-other'], undefined)
  assert.equal(asked.headers['content-type'], 'application/json')
  assert.ok(Number.isInteger(r.ms) && r.ms >= 0)
  const missing = await rpc.$call('fx:get', `${base}/missing`)
  assert.equal(missing.status, 404)
  assert.equal(missing.body, 'no such thing')
})

test('POST with a body and headers: the server sees them; chunked answers and HEAD', async (t) => {
  const { rpc } = await startFx(t)
  const seen = []
  const { base } = await remote(t, async (req, res) => {
    let body = ''
    for await (const c of req) body += c
    if (req.url === '/chunked') {
      res.writeHead(200, { 'content-type': 'text/plain' }) // no length: chunked
      res.write('one,')
      setImmediate(() => res.end('two'))
      return
    }
    seen.push({ method: req.method, body, headers: req.headers })
    res.writeHead(201, { 'content-type': 'text/plain', 'content-length': '7' })
    res.end(req.method === 'HEAD' ? undefined : 'created')
  })
  const big = 'z'.repeat(100000) // written in more than one piece
  const r = await rpc.$call('fx:get', `${base}/items`, {
    method: 'post',
    body: big,
    headers: { 'content-type': 'text/plain', 'X-Mine': 'hello' },
  })
  assert.equal(r.status, 201)
  assert.equal(r.body, 'created')
  assert.equal(seen[0].method, 'POST')
  assert.equal(seen[0].body, big)
  assert.equal(seen[0].headers['content-type'], 'text/plain')
  assert.equal(seen[0].headers['x-mine'], 'hello')
  assert.equal(seen[0].headers['content-length'], String(big.length))
  const chunked = await rpc.$call('fx:get', `${base}/chunked`)
  assert.equal(chunked.headers['transfer-encoding'], 'chunked')
  assert.equal(chunked.body, 'one,two')
  const head = await rpc.$call('fx:get', `${base}/items`, { method: 'HEAD' })
  assert.equal(head.status, 201)
  assert.equal(head.headers['content-length'], '7')
  assert.equal(head.body, '')
})

test('a body over max_body raises; one at the limit does not', async (t) => {
  const { rpc } = await startFx(t)
  const { base } = await remote(t, (req, res) => {
    res.writeHead(200, req.url === '/chunked' ? {} : { 'content-length': '5000' })
    res.end('x'.repeat(5000))
  })
  assert.equal((await rpc.$call('fx:get', `${base}/`, { max_body: 5000 })).body.length, 5000)
  for (const path of ['/', '/chunked']) {
    const err = await rejectionOf(rpc.$call('fx:get', `${base}${path}`, { max_body: 4999 }))
    assert.match(err.message, new RegExp(`moonhost.fetch: GET ${base}${path}: response body over max_body \\(4999 bytes\\)`))
  }
  assert.equal(await rpc.$call('fx:ping'), 'pong')
})

test('a server that never answers: the timeout raises; the host answers other calls meanwhile', async (t) => {
  const { rpc } = await startFx(t)
  const held = deferred()
  const { base } = await remote(t, (req) => held.resolve(req)) // never answers
  const started = Date.now()
  const slow = rpc.$call('fx:get', `${base}/hold`, { timeout: 1 })
  const req = await held.promise
  const closed = once(req.socket, 'close')
  assert.equal(await rpc.$call('fx:ping'), 'pong')
  const err = await rejectionOf(slow)
  assert.match(err.message, new RegExp(`moonhost.fetch: GET ${base}/hold: timed out after 1 s`))
  const waited = Date.now() - started
  assert.ok(waited >= 950 && waited < 10000, `${waited} ms`) // its timeout, not the default 30 s
  await closed // and the connection is gone
})

test('the client leaving cancels the fetch: the remote sees its request socket close', async (t) => {
  const { host, rpc } = await startFx(t)
  const held = deferred()
  const { base } = await remote(t, (req) => held.resolve(req))
  const other = await host.connect()
  other.rpc.$call('fx:get', `${base}/hold`).catch(() => {})
  const req = await held.promise
  const closed = once(req.socket, 'close')
  other.close()
  await closed
  await host.waitForLog(/\[fetch\] its call was cancelled: the fetch is closed/)
  assert.equal(await rpc.$call('fx:ping'), 'pong')
})

test('a host that stops closes the fetches its handlers wait for', async (t) => {
  const { host } = await startFx(t)
  const held = deferred()
  const { base } = await remote(t, (req) => held.resolve(req))
  // Over HTTP, so that stopping is what ends the call, not a client leaving.
  const call = fetch(`http://127.0.0.1:${host.port}/rpc/fx/get`, {
    method: 'POST',
    headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ json: [`${base}/hold`] }),
  }).catch(() => {})
  const req = await held.promise
  const closed = once(req.socket, 'close')
  host.child.kill('SIGTERM')
  await host.exited
  await closed
  await call
})

test('connection refused, an unknown name, localhost through the resolver', async (t) => {
  const { rpc } = await startFx(t)
  const port = await closedPort()
  const refused = await rejectionOf(rpc.$call('fx:get', `http://127.0.0.1:${port}/x`))
  assert.match(refused.message, new RegExp(`^moonhost.fetch: GET http://127.0.0.1:${port}/x: connection refused`))
  const unknown = await rejectionOf(rpc.$call('fx:get', 'http://no-such-host.invalid/'))
  assert.match(unknown.message, /moonhost.fetch: GET http:\/\/no-such-host.invalid\/: cannot resolve 'no-such-host.invalid'/)
  const { port: up } = await remote(t, (req, res) => res.end(`host ${req.headers.host}`))
  const local = await rpc.$call('fx:get', `http://localhost:${up}/`)
  assert.equal(local.body, `host localhost:${up}`)
  // A request that went out is not sent again to the name's next address (::1).
  let asked = 0
  const { port: rude } = await remote(t, (req) => {
    asked++
    req.socket.destroy()
  })
  const hung = await rejectionOf(rpc.$call('fx:get', `http://localhost:${rude}/once`, { method: 'POST', body: 'x' }))
  assert.match(hung.message, new RegExp(`POST http://localhost:${rude}/once: the connection closed before an answer`))
  assert.equal(asked, 1)
  // A plugin that catches the error gets its message.
  const caught = await rpc.$call('fx:caught', `http://127.0.0.1:${port}/`)
  assert.equal(caught.ok, false)
  assert.match(caught.message, /connection refused/)
})

test('redirects: followed (each hop asked again), manual, too many', async (t) => {
  const { rpc } = await startFx(t)
  const seen = []
  const { base, port } = await remote(t, async (req, res) => {
    for await (const _ of req); // the body read first: closing on a body still coming would reset the connection
    seen.push(`${req.method} ${req.url} ${req.headers.authorization || '-'}`)
    const m = req.url.match(/^\/loop\/(\d+)$/)
    if (m) return res.writeHead(302, { location: `/loop/${Number(m[1]) + 1}` }).end()
    if (req.url === '/start') return res.writeHead(303, { location: 'next?q=1' }).end()
    if (req.url === '/next?q=1') return res.writeHead(307, { location: `${base}/end` }).end()
    if (req.url === '/away') return res.writeHead(308, { location: `http://localhost:${port}/end` }).end()
    res.end(`${req.method} end`)
  })
  const r = await rpc.$call('fx:get', `${base}/start`, { method: 'POST', body: 'b', headers: { authorization: 'Bearer t' } })
  assert.equal(r.status, 200)
  assert.equal(r.body, 'GET end')
  assert.equal(r.url, `${base}/end`)
  assert.deepEqual(seen, ['POST /start Bearer t', 'GET /next?q=1 Bearer t', 'GET /end Bearer t'])
  // Another origin (localhost is not 127.0.0.1) does not get the credentials; 308 keeps the method.
  seen.length = 0
  const away = await rpc.$call('fx:get', `${base}/away`, { method: 'PUT', body: 'b', headers: { authorization: 'Bearer t' } })
  assert.equal(away.body, 'PUT end')
  assert.deepEqual(seen, ['PUT /away Bearer t', 'PUT /end -'])
  const manual = await rpc.$call('fx:get', `${base}/start`, { redirect: 'manual' })
  assert.equal(manual.status, 303)
  assert.equal(manual.headers.location, 'next?q=1')
  const err = await rejectionOf(rpc.$call('fx:get', `${base}/loop/1`))
  assert.match(err.message, new RegExp(`GET ${base}/loop/6: too many redirects \\(more than 5\\)`))
})

/** A self-signed certificate for 127.0.0.1 made with the openssl CLI. */
function selfSigned() {
  const dir = tempDir('moonhost-fetch-tls-')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
  return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }
}

test('https: a self-signed certificate is refused by default, accepted with insecure = true', async (t) => {
  const { rpc } = await startFx(t)
  const { base } = await remote(t, (req, res) => res.end(`tls ${req.socket.encrypted}`), createHttpsServer, selfSigned())
  const err = await rejectionOf(rpc.$call('fx:get', `${base}/`))
  assert.match(err.message, new RegExp(`moonhost.fetch: GET ${base}/: TLS certificate verification failed: self-signed certificate \\(insecure = true accepts it`))
  const r = await rpc.$call('fx:get', `${base}/`, { insecure: true })
  assert.equal(r.status, 200)
  assert.equal(r.body, 'tls true')
})

test('bad URLs and options are clear errors; header values are never echoed; the host keeps serving', async (t) => {
  const { rpc } = await startFx(t)
  const cases = [
    ['ftp://example.com/', undefined, /only http:\/\/ and https:\/\/ URLs are fetched/],
    ['example.com', undefined, /an http:\/\/ or https:\/\/ URL is expected/],
    ['http://user:pw@example.com/', undefined, /user info .* is not supported/],
    ['http://exa mple.com/', undefined, /the URL's host is empty/],
    ['http://example.com:99999/', undefined, /port is not between 1 and 65535/],
    ['http://example.com:8x/', undefined, /port is not a number/],
    [5, undefined, /url must be a string, got number/],
    ['http://127.0.0.1/', { methd: 'GET' }, /unknown key 'methd'.*did you mean 'method'/],
    ['http://127.0.0.1/', { method: 'GE T' }, /method 'GE T' is not an HTTP method name/],
    ['http://127.0.0.1/', { method: 'raw' }, /method RAW is not supported/],
    ['http://127.0.0.1/', { method: 'CONNECT' }, /method CONNECT is not supported/],
    ['http://127.0.0.1/', { timeout: 0 }, /timeout must be more than 0/],
    ['http://127.0.0.1/', { max_body: 'x' }, /max_body must be a number/],
    ['http://127.0.0.1/', { redirect: 'never' }, /redirect must be 'follow' or 'manual'/],
    ['http://127.0.0.1/', { insecure: 'yes' }, /insecure must be true or false/],
    ['http://127.0.0.1/', { body: 5 }, /body must be a string/],
    ['http://127.0.0.1/', { headers: { 'x y': 'v' } }, /header name 'x y' holds a character/],
    ['http://127.0.0.1/', { headers: { host: 'v' } }, /header 'host' is set by moonhost.fetch itself/],
    ['http://127.0.0.1/', { headers: { a: 1 } }, /header 'a' must be a string/],
    ['http://127.0.0.1/', { response_headers: 'x-a' }, /response_headers must be a list of header names/],
    ['http://127.0.0.1/', { response_headers: ['x a'] }, /response_headers\[1\] is not a header name/],
    ['http://127.0.0.1/', { response_headers: [1] }, /response_headers\[1\] is number, not a header name/],
  ]
  for (const [url, opts, re] of cases) {
    const err = await rejectionOf(rpc.$call('fx:get', url, opts))
    assert.match(err.message, re, JSON.stringify([url, opts]))
  }
  const crlf = await rejectionOf(rpc.$call('fx:nul_header', 'http://127.0.0.1/'))
  assert.match(crlf.message, /header 'authorization' holds a CR, LF or NUL byte in its value/)
  assert.doesNotMatch(crlf.message, /s3cret/)
  assert.equal(await rpc.$call('fx:ping'), 'pong')
})

test('moonhost test: a spec calls a handler that fetches; the spec itself is told why it cannot', async (t) => {
  const { base } = await remote(t, (req, res) => res.end(`spec saw ${req.url}`))
  const dir = tempTree(t, {
    'fx.lua': PLUGIN,
    'spec/fx_spec.lua': `local moonhost = require 'moonhost'
local testing = require 'moonhost.testing'
describe('fx', function()
  before_each(function() testing.load_plugin('../fx.lua') end)
  after_each(testing.reset)
  it('fetches in a handler', function()
    local r = testing.call('fx:get', os.getenv('FETCH_BASE') .. '/here')
    assert.are.same({ 200, 'spec saw /here' }, { r.status, r.body })
  end)
  it('tells the spec itself', function()
    local ok, err = pcall(moonhost.fetch, 'http://127.0.0.1:1/')
    assert.is_false(ok)
    assert.matches("only in a plugin's handler or setup", err)
  end)
end)
`,
  })
  const r = await runMoonhost(['test', join(dir, 'spec'), '-o', 'TAP'], { env: { FETCH_BASE: base } })
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /^ok 1 - fx fetches in a handler$/m)
  assert.match(r.stdout, /^ok 2 - fx tells the spec itself/m)
})
