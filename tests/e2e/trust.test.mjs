// The hostile versions of the trust promises (README "Trust: tokens and
// origins", docs/security.md "Defaults"): Origins and Host names that look
// loopback but are not, on every door of the port, with the token or not;
// tokens that almost match. Each door must refuse them and keep serving.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, request as httpRequest } from 'node:http'
import { chromium } from 'playwright-core'
import { E2E_TOKEN } from './lib/host.mjs'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { configDir, copyFixturePlugins, fixtures, hostFor, rawClient, rejectionOf, scratchDir, upgradeStatus } from './lib/util.mjs'

const ALLOWED = 'https://devbox.example.test'

/** A host whose conf.d allows one foreign origin and one name. */
async function trustHost(t) {
  const config = configDir(t, {
    '10-trust.lua': `return { auth = { allowed_origins = { '${ALLOWED}' }, allowed_hosts = { '.lan.example' } } }\n`,
  })
  return hostFor(t, { config })
}

/** One HTTP request on its own connection (node:http sends Host as given): its status. */
function status(host, method, path, headers = {}, body) {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port: host.port, method, path, headers, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
    })
    req.on('error', (e) => resolve(e.code))
    req.end(body)
  })
}

/** The status of a request whose answer may be an endless stream: taken from the response head. */
function headStatus(host, method, path, headers = {}) {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port: host.port, method, path, headers, agent: false }, (res) => {
      resolve(res.statusCode)
      req.destroy()
    })
    req.on('error', (e) => resolve(e.code))
    req.end()
  })
}

const bearer = { authorization: `Bearer ${E2E_TOKEN}` }
const json = { 'content-type': 'application/json' }
const mcpInit = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } })

/**
 * Every door of the port, as [name, (headers) => status]. Each carries the
 * token where the door takes one, so only the header under test decides.
 */
function doors(host) {
  const tokenQuery = `?token=${E2E_TOKEN}`
  return [
    ['upgrade /__ws', (h) => upgradeStatus(host, `/__ws${tokenQuery}`, h)],
    ['upgrade /', (h) => upgradeStatus(host, `/${tokenQuery}`, h)],
    ['upgrade /__devtools/__ws', (h) => upgradeStatus(host, `/__devtools/__ws${tokenQuery}`, h)],
    ['GET /__moonhost/health', (h) => status(host, 'GET', '/__moonhost/health', h)],
    ['GET /__moonhost/ (inspector)', (h) => status(host, 'GET', '/__moonhost/', h)],
    ['GET /__devtools/__connection.json', (h) => status(host, 'GET', '/__devtools/__connection.json', h)],
    ['GET /.devtools/.connection.json', (h) => status(host, 'GET', '/.devtools/.connection.json', h)],
    ['GET /__moonhost/client.js', (h) => status(host, 'GET', '/__moonhost/client.js', h)],
    ['GET /__devtools/__sse (event stream)', (h) => headStatus(host, 'GET', `/__devtools/__sse${tokenQuery.replace('token', 'devframe_auth_token')}`, { accept: 'text/event-stream', ...h })],
    ['GET /healthz', (h) => status(host, 'GET', '/healthz', h)],
    ['GET /metrics', (h) => status(host, 'GET', '/metrics', { ...bearer, ...h })],
    ['POST /rpc', (h) => status(host, 'POST', '/rpc/http/echo', { ...bearer, ...json, ...h }, '{"json":1}')],
    ['GET /rpc (query)', (h) => status(host, 'GET', '/rpc/anonymous/http/ping', h)],
    ['OPTIONS /rpc (preflight)', (h) => status(host, 'OPTIONS', '/rpc/http/echo', { 'access-control-request-method': 'POST', ...h })],
    ['POST /__mcp', (h) => status(host, 'POST', '/__mcp', { ...bearer, ...json, accept: 'application/json, text/event-stream', ...h }, mcpInit)],
    ['POST /__moonhost/reload', (h) => status(host, 'POST', '/__moonhost/reload?plugin=http', { ...bearer, ...h }, '')],
  ]
}

/** A door is open to a header when it is answered with something other than 403/400. */
async function assertEveryDoor(host, headers, refused, what) {
  for (const [door, send] of doors(host)) {
    const got = await send(headers)
    if (refused) assert.equal(got, 403, `${door} with ${what}`)
    else assert.ok(typeof got === 'number' && got !== 403 && got !== 400 && got < 500, `${door} with ${what}: ${got}`)
  }
}

test('Origin: look-alikes of loopback and of an allowed origin get 403 at every door, token or not; the real ones pass', async (t) => {
  const host = await trustHost(t)
  const foreign = [
    'null', // sandboxed iframes, file:// pages
    'http://localhost.evil.example',
    'http://localhost@evil.example',
    'http://127.0.0.1:80@evil.example',
    'http://127.0.0.1.evil.example',
    'http://evil.example#.localhost', // ends with ".localhost" but names evil.example
    'http://evil.example?.localhost',
    'http://evil.example/.localhost',
    'http://evil.example\\.localhost',
    'http://localhost/',
    'http://localhost:5173/x',
    'ws://localhost',
    'file://',
    'chrome-extension://abcdefghijklmnop',
    `${ALLOWED}.evil.example`, // allowed_origins match whole origins:
    `${ALLOWED}:8443`, // another port,
    ALLOWED.replace('https:', 'http:'), // another scheme,
    `${ALLOWED}/`, // and nothing after them
  ]
  for (const origin of foreign) await assertEveryDoor(host, { origin }, true, `Origin ${origin}`)
  for (const origin of ['http://localhost:5173', 'http://app.localhost', 'http://127.0.0.1:3000', 'http://[::1]:8080',
    'HTTP://LOCALHOST', ALLOWED, ALLOWED.toUpperCase()])
    await assertEveryDoor(host, { origin }, false, `Origin ${origin}`)
  await host.waitForLog(/origin null refused/) // the first refusal (the log line is rate-limited)
  const c = await host.connect()
  assert.equal(await c.rpc['http:echo']('still serving'), 'still serving')
  c.close()
})

test('Host: names that end like loopback or an allowed domain, and brackets around a name, get 403 at every door', async (t) => {
  const host = await trustHost(t)
  const foreign = [
    'evil.example#.localhost',
    'evil.example/.localhost',
    'evil.example\\.localhost',
    'evil.example?.lan.example',
    'evil.example%2elocalhost',
    '[rebind.evil.example]', // brackets hold IPv6 addresses, not names
    '[rebind.evil.example]:80',
    '[::1.evil.example]',
    'xlan.example',
  ]
  for (const name of foreign) await assertEveryDoor(host, { host: name }, true, `Host ${name}`)
  for (const name of ['localhost', 'app.localhost:1', '127.0.0.1', '[::1]', `[::1]:${host.port}`, '[fe80::1%25eth0]',
    '[::ffff:127.0.0.1]', 'lan.example', 'a.lan.example'])
    await assertEveryDoor(host, { host: name }, false, `Host ${name}`)
  await host.waitForLog(/Host evil\.example#\.localhost refused/) // the first refusal (the log line is rate-limited)
  const c = await host.connect()
  assert.equal(await c.rpc['http:echo']('still serving'), 'still serving')
  c.close()
})

test('tokens that almost match are refused the same way a wrong one is, over WebSocket and HTTP', async (t) => {
  const host = await hostFor(t)
  // (Not a line break after it: libwebsockets ends a URL argument at a
  // decoded CR or LF, so "?token=TOKEN%0A..." is TOKEN. It takes the token
  // to send it.)
  const nearMisses = [E2E_TOKEN.slice(0, -1), `${E2E_TOKEN}x`, E2E_TOKEN.toUpperCase(), ` ${E2E_TOKEN}`, `${E2E_TOKEN} `,
    `${E2E_TOKEN}\t`, E2E_TOKEN.replace('-', '_')]
  for (const token of nearMisses) {
    const c = await host.connect({}, {}, { token })
    const err = await rejectionOf(c.rpc['http:echo'](1))
    assert.match(err.message, /not authorized \(the token is not valid\)/, JSON.stringify(token))
    // The handshake does not take it either.
    assert.deepEqual(await c.rpc['anonymous:devframe:auth']({ authToken: token }), { isTrusted: false })
    c.close()
    // HTTP strips blanks around a header's value (RFC 9110 5.5): only the others differ there.
    if (token.trim() !== token) continue
    const res = await fetch(`http://127.0.0.1:${host.port}/rpc/http/echo`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, ...json }, body: '{"json":1}',
    })
    assert.equal(res.status, 401, JSON.stringify(token))
  }
  // An empty token is no token, wherever it comes from.
  const empty = await host.connect({}, {}, { token: '' })
  assert.match((await rejectionOf(empty.rpc['http:echo'](1))).message, /\(no token\)/)
  assert.deepEqual(await empty.rpc['anonymous:devframe:auth']({ authToken: '' }), { isTrusted: false })
  empty.close()
  const emptyQuery = await host.rawSocket('/__ws?token=', {}, null)
  emptyQuery.send(JSON.stringify({ t: 'q', i: 'e', m: 'http:echo', a: [1] }))
  const reply = JSON.parse(await new Promise((res) => emptyQuery.once('message', (d) => res(d.toString()))))
  assert.equal(reply.e?.code, 'unauthorized')
  for (const authorization of ['Bearer ', 'Bearer', `Basic ${Buffer.from(`x:${E2E_TOKEN}`).toString('base64')}`, E2E_TOKEN]) {
    const res = await fetch(`http://127.0.0.1:${host.port}/rpc/http/echo`, { method: 'POST', headers: { authorization, ...json }, body: '{"json":1}' })
    assert.equal(res.status, 401, authorization)
  }
  // The right token still works, and the near misses never reached the log.
  const ok = await host.connect()
  assert.equal(await ok.rpc['http:echo'](2), 2)
  ok.close()
  assert.ok(!host.log.includes(`${E2E_TOKEN}x`), 'a refused token is not logged')
})

test('devframe:auth:revoke takes the trust away; calls that need it are refused until a token is presented again', async (t) => {
  const config = configDir(t, {
    '10-roles.lua': "return { auth = { tokens = { 'e2e-token', { token = 'admin-token', roles = { 'admin' } } } } }\n",
  })
  const host = await hostFor(t, { config })
  const c = await host.connect({}, {}, { token: 'admin-token' })
  assert.equal(await c.rpc['http:echo'](1), 1)
  await host.waitForLog(/c\d+ granted 1 role\(s\) by its token/)
  await c.rpc['devframe:auth:revoke']()
  assert.match((await rejectionOf(c.rpc['http:echo'](1))).message, /not authorized/)
  assert.equal(await c.rpc['anonymous:http:ping'](), 'pong')
  assert.deepEqual(await c.rpc['anonymous:devframe:auth']({ authToken: E2E_TOKEN }), { isTrusted: true })
  assert.equal(await c.rpc['http:echo'](3), 3)
  c.close()
})

/** An SSE session opened with this query: its id (the first event's data) and the request, to end it. */
function sseSession(host, query) {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: host.port, path: `/__devtools/__sse${query}`, headers: { accept: 'text/event-stream' } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => {
        text += chunk
        const m = /event: session\ndata: (\w+)\n\n/.exec(text)
        if (m) resolve({ id: m[1], req })
      })
      res.on('end', () => reject(new Error(`stream ended: ${res.statusCode} ${text}`)))
    })
    req.on('error', reject)
    req.end()
  })
}

test('a long token (1000 bytes) is taken wherever a token is: URL parameters, handshake, Bearer, ?token=, cookie, SSE', async (t) => {
  const long = `L${'0123456789abcdef'.repeat(62)}Z`.slice(0, 1000)
  const config = configDir(t, { '10-long.lua': `return { auth = { tokens = { 'e2e-token', '${long}' } } }\n` })
  const host = await hostFor(t, { config })
  for (const param of ['token', 'vite_devtools_auth_token', 'devframe_auth_token']) {
    const c = await host.connect({}, {}, { path: `/__ws?${param}=${long}` })
    assert.equal(await c.rpc['http:echo'](param), param)
    c.close()
  }
  const hand = await host.connect({}, {}, { token: null })
  assert.deepEqual(await hand.rpc['anonymous:devframe:auth']({ authToken: long }), { isTrusted: true })
  hand.close()
  const echo = (query, headers) => fetch(`http://127.0.0.1:${host.port}/rpc/http/echo${query}`, {
    method: 'POST', headers: { ...json, ...headers }, body: '{"json":7}',
  }).then((r) => r.status)
  assert.equal(await echo('', { authorization: `Bearer ${long}` }), 200)
  assert.equal(await echo(`?token=${long}`, {}), 200)
  assert.equal(await echo('', { cookie: `a=b; moonhost_token=${long}` }), 200)
  // One byte short is refused everywhere (nothing is cut to fit).
  assert.equal(await echo(`?token=${long.slice(0, -1)}`, {}), 401)
  const short = await host.connect({}, {}, { token: long.slice(0, -1) })
  assert.match((await rejectionOf(short.rpc['http:echo'](1))).message, /the token is not valid/)
  short.close()
  const sse = await sseSession(host, `?devframe_auth_token=${long}`)
  t.after(() => sse.req.destroy())
  const res = await fetch(`http://127.0.0.1:${host.port}/__devtools/__sse`, {
    method: 'POST', headers: { 'content-type': 'text/plain', 'x-birpc-session': sse.id },
    body: JSON.stringify({ t: 'q', i: 's', m: 'http:echo', a: ['sse'] }),
  })
  assert.deepEqual(JSON.parse(await res.text()), { t: 's', i: 's', r: 'sse' })
})

test('an untrusted WebSocket gets no broadcasts: plugin broadcasts, broadcast_call, functions-changed, plugin-error', async (t) => {
  const dir = copyFixturePlugins(['clients.lua'], scratchDir('moonhost-trust-'))
  const flaky = (body) => `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'flaky', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'flaky:v', type = 'action', handler = function() return ${body} end })
end }
`
  writeFileSync(join(dir, 'flaky.lua'), flaky('1'))
  const host = await hostFor(t, { plugins: dir })
  const outsider = await rawClient(host, '/__ws?no-token')
  const seen = [] // every event the trusted client is sent, by name
  const waiters = []
  const onEvent = (name) => (...args) => {
    seen.push([name, args])
    for (const w of [...waiters]) w()
  }
  const trusted = await host.connect({
    news: onEvent('news'),
    who: () => 'trusted',
    'moonhost:functions-changed': onEvent('moonhost:functions-changed'),
    'moonhost:plugin-error': onEvent('moonhost:plugin-error'),
  })
  const seenEvent = (name) => new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no ${name}: ${JSON.stringify(seen)}`)), 20000)
    const check = () => {
      if (!seen.some(([n]) => n === name)) return
      clearTimeout(timer)
      waiters.splice(waiters.indexOf(check), 1)
      res()
    }
    waiters.push(check)
    check()
  })
  assert.equal(await trusted.rpc['clients:shout']('news', 'hello'), 1) // sent to one client: the trusted one
  const gathered = await trusted.rpc['clients:gather']('who', [])
  assert.deepEqual(gathered.map((r) => r.value), ['trusted'])
  writeFileSync(join(dir, 'flaky.lua'), flaky('1 +'))
  await seenEvent('moonhost:plugin-error')
  writeFileSync(join(dir, 'flaky.lua'), flaky('2'))
  await seenEvent('moonhost:functions-changed')
  await seenEvent('news')
  // Frames to a client are sent in order: whatever was broadcast to the
  // outsider would be ahead of this reply.
  outsider.send({ t: 'q', i: 'last', m: 'anonymous:devframe:auth', a: [{ authToken: 'nope' }] })
  const first = await outsider.next()
  assert.deepEqual(first, { t: 's', i: 'last', r: { isTrusted: false } }, 'the untrusted client got something else first')
  trusted.close()
})

test('auth.required = false: every client is trusted and the log says so; the Origin and Host checks still hold', async (t) => {
  const config = configDir(t, { '10-open.lua': 'return { auth = { required = false } }\n' })
  const host = await hostFor(t, { config })
  await host.waitForLog(/auth\.required is false: every local client is trusted/)
  const c = await host.connect({}, {}, { token: null })
  assert.equal(await c.rpc['http:echo']('no token'), 'no token')
  c.close()
  const res = await fetch(`http://127.0.0.1:${host.port}/rpc/http/echo`, { method: 'POST', headers: json, body: '{"json":2}' })
  assert.equal(res.status, 200)
  // Trust does not open the port to other sites' pages.
  for (const [door, send] of doors(host)) {
    assert.equal(await send({ origin: 'https://evil.example' }), 403, `${door}, foreign Origin`)
    assert.equal(await send({ host: 'rebind.evil.example' }), 403, `${door}, foreign Host`)
  }
})

test('an SSE session id (whoever holds it acts as that client) never reaches the log', async (t) => {
  const host = await hostFor(t)
  const sse = await sseSession(host, `?devframe_auth_token=${E2E_TOKEN}`)
  const res = await fetch(`http://127.0.0.1:${host.port}/__devtools/__sse`, {
    method: 'POST', headers: { 'content-type': 'text/plain', 'x-birpc-session': sse.id },
    body: JSON.stringify({ t: 'q', i: 'x', m: 'nosuch:fn', a: [] }),
  })
  assert.equal(JSON.parse(await res.text()).e?.code, 'not_found')
  // A session id that is not one, and the session's end, are logged too: without the id.
  const wrong = `${sse.id.slice(0, -4)}beef`
  const refused = await fetch(`http://127.0.0.1:${host.port}/__devtools/__sse`, {
    method: 'POST', headers: { 'content-type': 'text/plain', 'x-birpc-session': wrong }, body: '{"t":"q","i":"y","m":"x:y","a":[]}',
  })
  assert.notEqual(refused.status, 200)
  sse.req.destroy()
  await host.waitForLog(/\[sse\] c\d+ disconnected|\[sse\] c\d+: .*closed|session .* ended/i)
  assert.ok(!host.log.includes(sse.id), 'the session id is in the log')
  assert.ok(!host.log.includes(wrong), 'a presented session id is in the log')
})

test('the moonhost_token cookie does not count on a request another site made (Sec-Fetch-Site: cross-site), which carries no Origin on a GET', async (t) => {
  const host = await hostFor(t)
  const query = `/rpc/http/add?data=${encodeURIComponent(JSON.stringify({ json: { a: 1, b: 2 } }))}`
  const get = (headers) => status(host, 'GET', query, headers)
  const cookie = `moonhost_token=${E2E_TOKEN}`
  assert.equal(await get({ cookie }), 200) // a tool, or a browser that does not say
  for (const site of ['same-origin', 'same-site', 'none']) assert.equal(await get({ cookie, 'sec-fetch-site': site }), 200, site)
  // A link or an <img> on another site's page: the browser attaches the cookie, and no Origin.
  assert.equal(await get({ cookie, 'sec-fetch-site': 'cross-site' }), 401)
  assert.equal(await get({ cookie, 'sec-fetch-site': 'Cross-Site' }), 401)
  // The token itself, which another site cannot attach, still counts.
  assert.equal(await get({ 'sec-fetch-site': 'cross-site', authorization: `Bearer ${E2E_TOKEN}` }), 200)
  assert.equal(await status(host, 'GET', `${query}&token=${E2E_TOKEN}`, { 'sec-fetch-site': 'cross-site' }), 200)
})

test('Chromium: a link on another site to a query, with the moonhost_token cookie set, runs nothing; a page beside the host still can', { timeout: 60000 }, async (t) => {
  const host = await hostFor(t, { plugins: join(fixtures, 'tally') })
  const target = `http://127.0.0.1:${host.port}/rpc/tally/hit`
  // The pages: one that follows a link to the query at once.
  const pages = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' })
    res.end(`<!doctype html><a id="go" href="${target}">go</a><script>document.getElementById('go').click()</script>`)
  })
  await new Promise((res) => pages.listen(0, '127.0.0.1', res))
  t.after(() => pages.close())
  const browser = await chromium.launchPersistentContext(scratchDir('moonhost-e2e-chromium-'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--host-resolver-rules=MAP evil.test 127.0.0.1'],
  })
  t.after(() => browser.close())
  // As a page beside the host would set it (cookies hold for every port of 127.0.0.1).
  await browser.addCookies([{ name: 'moonhost_token', value: E2E_TOKEN, domain: '127.0.0.1', path: '/', sameSite: 'Lax' }])
  const visit = async (from) => {
    const page = await browser.newPage()
    await Promise.all([page.waitForURL(target), page.goto(`${from}/`)])
    await page.waitForLoadState('load')
    const text = await page.textContent('body')
    await page.close()
    return text
  }
  const foreign = await visit(`http://evil.test:${pages.address().port}`)
  assert.match(foreign, /UNAUTHORIZED/)
  const c = await host.connect()
  assert.equal(await c.rpc['tally:count'](), 0, 'the query ran for another site')
  const beside = await visit(`http://127.0.0.1:${pages.address().port}`)
  assert.equal(JSON.parse(beside).json, 1)
  assert.equal(await c.rpc['tally:count'](), 1)
  c.close()
})

test('/__moonhost/ serves only the files compiled in: paths that climb out or name a file on disk get 404', async (t) => {
  const host = await hostFor(t)
  for (const path of ['/__moonhost/../../../../etc/passwd', '/__moonhost/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/__moonhost/..%2f..%2f..%2fetc%2fpasswd', '/__moonhost/inspector/../../../etc/hostname', '/__moonhost//etc/passwd',
    '/__moonhost/CLIENT.JS', '/__moonhost/client.js/', '/etc/passwd', '/__moonhost/README.md', '/__moonhost/plugins/http.lua']) {
    // node:http sends the path as written (fetch would resolve the dots first).
    const [code, text] = await new Promise((resolve, reject) => {
      httpRequest({ host: '127.0.0.1', port: host.port, path, agent: false }, (res) => {
        let body = ''
        res.on('data', (d) => (body += d))
        res.on('end', () => resolve([res.statusCode, body]))
      }).on('error', reject).end()
    })
    assert.equal(code, 404, path)
    assert.doesNotMatch(text, /root:|moonhost\.plugin/, path)
  }
  assert.equal((await fetch(`http://127.0.0.1:${host.port}/__moonhost/client.js`)).status, 200)
})

test('what the port serves without a token holds no token: discovery documents, health, client.js, the inspector page', async (t) => {
  const config = configDir(t, { '10-generated.lua': 'return { auth = { generate_token = true } }\n' })
  const host = await hostFor(t, { config })
  const [, generated] = await host.waitForLog(/connect with .* or ([0-9a-f]{32}) \(this start's/)
  for (const path of ['/__devtools/__connection.json', '/.devtools/.connection.json', '/__moonhost/health', '/healthz', '/readyz',
    '/__moonhost/client.js', '/__moonhost/client.d.ts', '/__moonhost/']) {
    const res = await fetch(`http://127.0.0.1:${host.port}${path}`)
    assert.equal(res.status, 200, path)
    const text = await res.text()
    assert.ok(!text.includes(generated) && !text.includes(E2E_TOKEN), `${path} holds a token`)
  }
  // The generated token is one.
  const c = await host.connect({}, {}, { token: generated })
  assert.equal(await c.rpc['http:echo']('generated'), 'generated')
  c.close()
})

test('a hand-written token shorter than 16 characters is warned about at start (never shown); long ones are not', async (t) => {
  const SHORT = 'abc123'
  const LONG = 'a-long-enough-hand-written-token'
  const weak = await hostFor(t, { config: configDir(t, { '10-tokens.lua': `return { auth = { tokens = { '${SHORT}', { token = 'x7', roles = { 'ci' } }, '${LONG}' } } }\n` }) })
  const m = await weak.waitForLog(/warn {2}\[host\] (.*shorter than 16 characters.*)/)
  assert.match(m[1], /^2 of the tokens in auth\.tokens are shorter/) // abc123 and x7 (a later list replaces the test's)
  assert.doesNotMatch(weak.log, new RegExp(`${SHORT}|'x7'`))
  // Only long tokens: no warning.
  const strong = await hostFor(t, { config: configDir(t, { '10-tokens.lua': `return { auth = { tokens = { '${LONG}' } } }\n` }) })
  await strong.waitForLog(/connect with ws:/)
  assert.doesNotMatch(strong.log, /shorter than 16 characters/)
})
