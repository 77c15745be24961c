// devframe's SSE transport (issue 17): GET /__devtools/__sse opens an event
// stream (`event: session` first, `event: message` per birpc frame, `: ping`
// keep-alives), POST with x-birpc-session carries the client's frames, a
// call's answer comes back in its POST's body. The REAL devframe 1.3.2
// client (@vitejs/devtools-kit 0.8's getDevToolsRpcClient) picks it from
// __connection.json (http.devframe_backend = 'sse') and is a client of the
// host like a WebSocket one: calls, broadcasts, host -> client calls, shared
// state, trust and limits; then raw HTTP for the hostile cases.
import { openPage, closePage, USER_AGENT } from './lib/devtools-env.mjs'
import { test, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { getDevToolsRpcClient } from '@vitejs/devtools-kit/client'
import { startHost, E2E_TOKEN } from './lib/host.mjs'
import { configDir, deferred, rawClient, runMoonhost, scratchDir, tempTree, testConfigSource } from './lib/util.mjs'

const PLUGIN = `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'sse',
  setup = function(ctx)
    local board = ctx.rpc.shared_state('sse:board', { initial = { n = 0 } })
    local ended = {}
    ctx.rpc.register { name = 'sse:add', type = 'action', handler = function(a, b) return a + b end }
    ctx.rpc.register { name = 'anonymous:sse:hello', type = 'action', handler = function() return 'hello' end }
    ctx.rpc.register { name = 'sse:shout', type = 'action', handler = function(...) return ctx.rpc.broadcast('sse:news', ...) end }
    ctx.rpc.register { name = 'sse:ask', type = 'action', handler = function(...)
      return ctx.rpc.call_client(moonhost.caller().id, 'sse:label', ...)
    end }
    ctx.rpc.register { name = 'sse:bump', type = 'action', handler = function()
      board:update(function(d) d.n = d.n + 1 end)
      return board:get()
    end }
    -- Records how its run ended: 'finished', or 'cancelled' when the host stopped it.
    ctx.rpc.register { name = 'sse:sleep', type = 'action', handler = function(seconds, tag)
      local finished = false
      local guard <close> = setmetatable({}, { __close = function() ended[tag] = finished and 'finished' or 'cancelled' end })
      ctx.log.info('sse:sleep %s started', tag)
      moonhost.sleep(seconds)
      finished = true
      return tag
    end }
    ctx.rpc.register { name = 'sse:ended', type = 'action', handler = function() return ended end }
    -- Broadcasts size-byte payloads every pause seconds until a client is
    -- gone (or rounds run out): what a reader that stops reading meets.
    ctx.rpc.register { name = 'sse:flood', type = 'action', handler = function(rounds, size, pause)
      local start, payload = #ctx.rpc.clients(), string.rep('x', size)
      for i = 1, rounds do
        ctx.rpc.broadcast('sse:payload', payload)
        if #ctx.rpc.clients() < start then return i end
        moonhost.sleep(pause)
      end
      return -1
    end }
  end,
}
`

const ORIGIN_OK = 'https://app.example.test'
let host
before(async () => {
  const plugins = tempTree(null, { 'sse.lua': PLUGIN })
  const config = configDir(null, {
    // No keep-alive within a test: a reader that leaves is noticed without a write.
    '10-sse.lua': `return { http = { devframe_backend = 'sse', sse_keepalive_ms = 600000 },
      auth = { allowed_origins = { '${ORIGIN_OK}' } } }`,
  })
  host = await startHost({ plugins, config })
})
afterEach(() => closePage())
after(() => host.stop())

const base = (h = host) => `http://127.0.0.1:${h.port}`

/**
 * The real devframe client as a page at http://127.0.0.1:PORT/ opens it,
 * its fetches recorded: posts[] is every POST { body, status, answer }.
 * A browser sends the page's Origin with a POST, so this one does too.
 */
async function kitClient(t, { token = E2E_TOKEN, ...options } = {}) {
  openPage(host.port)
  const posts = []
  const streams = []
  const fetchImpl = async (url, init = {}) => {
    const post = init.method === 'POST'
    const res = await fetch(url, post ? { ...init, headers: { ...init.headers, origin: location.origin } } : init)
    if (post) posts.push({ body: init.body, status: res.status, answer: await res.clone().text() })
    else streams.push({ url: String(url), status: res.status, type: res.headers.get('content-type') })
    return res
  }
  const rpc = await getDevToolsRpcClient({ baseURL: '/__devtools/', authToken: token, sseOptions: { fetch: fetchImpl }, ...options })
  t.after(() => rpc.close())
  const trusted = new Promise((resolve) => rpc.events.on('rpc:is-trusted:updated', resolve))
  return { rpc, trusted, posts, streams }
}

/**
 * A raw SSE stream: events[] as parsed ({ event, data }), next(pred) waits
 * for one, closed resolves when the response ends. path may carry a query.
 */
function openStream(h, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request(`${base(h)}${path}`, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events = []
      const waiters = new Set()
      let buf = ''
      const closed = new Promise((done) => res.on('close', done))
      res.setEncoding('utf8')
      res.on('data', (chunk) => {
        buf += chunk
        let cut
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut)
          buf = buf.slice(cut + 2)
          const ev = { event: 'message', data: [], comments: [] }
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) ev.comments.push(line.slice(1).trim())
            else if (line.startsWith('event: ')) ev.event = line.slice(7)
            else if (line.startsWith('data: ')) ev.data.push(line.slice(6))
          }
          ev.data = ev.data.join('\n')
          events.push(ev)
          for (const w of [...waiters]) w(ev)
        }
      })
      const next = (pred, timeoutMs = 10000) => {
        const found = events.find(pred)
        if (found) return Promise.resolve(found)
        return new Promise((ok, fail) => {
          const timer = setTimeout(() => fail(new Error(`no such event; got ${JSON.stringify(events)}`)), timeoutMs)
          const w = (ev) => {
            if (!pred(ev)) return
            clearTimeout(timer)
            waiters.delete(w)
            ok(ev)
          }
          waiters.add(w)
        })
      }
      resolve({ req, res, status: res.statusCode, headers: res.headers, events, next, closed })
    })
    req.on('error', reject)
    req.end()
  })
}

/** A session: its stream and its id (the data of its first event). */
async function session(h, query = `?devframe_auth_token=${E2E_TOKEN}`, headers = {}) {
  const s = await openStream(h, `/__devtools/__sse${query}`, headers)
  assert.equal(s.status, 200)
  const first = await s.next(() => true)
  assert.equal(first.event, 'session')
  s.id = first.data
  return s
}

/** POSTs body (an object: JSON) as session id; { status, text, headers }. */
async function post(h, id, body, headers = {}) {
  const res = await fetch(`${base(h)}/__devtools/__sse`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain; charset=utf-8', ...(id ? { 'x-birpc-session': id } : {}), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: res.status, text: await res.text(), headers: res.headers }
}

const answer = (r) => JSON.parse(r.text)

test('discovery offers both transports; backend sse makes the real client pick SSE; calls, broadcasts, host -> client calls', async (t) => {
  const meta = await (await fetch(`${base()}/__devtools/__connection.json`)).json()
  assert.deepEqual(meta, { backend: 'sse', websocket: { path: '/__devtools/__ws' }, sse: { path: '/__devtools/__sse' } })

  const { rpc, trusted, posts, streams } = await kitClient(t)
  const news = deferred()
  rpc.client.register({ name: 'sse:news', type: 'event', handler: (...a) => news.resolve(a) })
  rpc.client.register({ name: 'sse:label', type: 'action', handler: (x) => `label:${x}` })
  assert.equal(await trusted, true)
  assert.equal(rpc.transport, 'sse')
  assert.equal(rpc.status, 'connected')
  assert.deepEqual(streams, [{
    url: `${base()}/__devtools/__sse?devframe_auth_token=${E2E_TOKEN}`, status: 200, type: 'text/event-stream',
  }])

  // A call: its answer is the body of its own POST.
  const dates = [new Date(0), new Map([['a', new Set([1n])]])]
  assert.deepStrictEqual(await rpc.call('sse:add', 2, 3), 5)
  const add = posts.find((p) => p.body.includes('sse:add'))
  assert.ok(add.body.startsWith('s:'), add.body)
  assert.equal(add.status, 200)
  assert.ok(add.answer.startsWith('s:'), add.answer)
  // The handshake went the same way, first.
  assert.match(posts[0].body, /anonymous:devframe:auth/)
  assert.match(posts[0].body, new RegExp(USER_AGENT.replace(/[()]/g, '\\$&')))

  // A broadcast comes down the stream.
  assert.equal(await rpc.call('sse:shout', 'hi', dates), 1)
  assert.deepStrictEqual(await news.promise, ['hi', dates])

  // The host calls the client down the stream; its answer goes up in a POST answered 202.
  assert.equal(await rpc.call('sse:ask', 'x'), 'label:x')
  const reply = posts.find((p) => p.body.includes('label:x'))
  assert.equal(reply.status, 202)
  assert.equal(reply.answer, '')
})

test('the real client pins SSE on a websocket-backend host too, and shares state over it', async (t) => {
  const other = await startHost({ plugins: tempTree(null, { 'sse.lua': PLUGIN }) })
  t.after(() => other.stop())
  openPage(other.port)
  const rpc = await getDevToolsRpcClient({ baseURL: '/__devtools/', authToken: E2E_TOKEN, transport: 'sse' })
  t.after(() => rpc.close())
  assert.equal(rpc.connectionMeta.backend, 'websocket')
  assert.equal(rpc.transport, 'sse')
  await rpc.ensureTrusted(10000)
  // A WebSocket client of the same host, to see the SSE client's writes.
  const ws = await rawClient(other, `/__devtools/__ws?devframe_auth_token=${E2E_TOKEN}`)
  ws.send({ t: 'q', i: 'sub', m: 'devframe:rpc:server-state:subscribe', a: ['sse:board'] })
  await ws.replyTo('sub')

  const s = await rpc.sharedState.get('sse:board')
  assert.deepEqual(s.value(), { n: 0 })
  // The plugin writes: the SSE subscriber is told down its stream.
  const updated = new Promise((resolve) => s.on('updated', resolve))
  assert.deepEqual(await rpc.call('sse:bump'), { n: 1 })
  assert.deepEqual(await updated, { n: 1 })
  // The SSE client writes: the plugin has it, and the WebSocket subscriber is told.
  s.mutate((d) => { d.n = 42 })
  let frame
  do frame = await ws.next()
  while (frame.m !== 'devframe:rpc:client-state:updated' || frame.a[1].n !== 42)
  assert.equal(frame.a[0], 'sse:board')
  assert.deepEqual(await rpc.call('devframe:rpc:server-state:get', 'sse:board'), { n: 42 })
})

test('trust: an untrusted session is refused what an untrusted WebSocket is, and gets no broadcasts', async (t) => {
  // The real client without a token: its handshake says untrusted.
  const { rpc, trusted } = await kitClient(t, { token: null })
  assert.equal(await trusted, false)
  assert.equal(rpc.status, 'unauthorized')

  const s = await session(host, '')
  t.after(() => s.req.destroy())
  const sse = answer(await post(host, s.id, { t: 'q', i: 'u1', m: 'sse:add', a: [1, 2] }))
  const ws = await rawClient(host, '/__devtools/__ws?no_token=1')
  ws.send({ t: 'q', i: 'u1', m: 'sse:add', a: [1, 2] })
  const wsAnswer = await ws.replyTo('u1')
  assert.equal(sse.e.code, 'unauthorized')
  assert.deepEqual(sse, wsAnswer)
  // anonymous:* is open to it, as to the WebSocket.
  assert.deepEqual(answer(await post(host, s.id, { t: 'q', i: 'u2', m: 'anonymous:sse:hello', a: [] })), { t: 's', i: 'u2', r: 'hello' })
  // A trusted session's broadcast reaches trusted clients only.
  const trustedOne = await session(host)
  t.after(() => trustedOne.req.destroy())
  // The count includes trusted clients of earlier tests on this shared host
  // that a loaded machine has not seen leave yet: at least this session.
  const shout = answer(await post(host, trustedOne.id, { t: 'q', i: 'b', m: 'sse:shout', a: ['only-trusted'] }))
  assert.ok(shout.r >= 1, JSON.stringify(shout))
  await trustedOne.next((e) => e.event === 'message' && e.data.includes('only-trusted'))
  assert.equal(s.events.filter((e) => e.data.includes('only-trusted')).length, 0)
  // A token in the URL that is not ours: refused, and said so.
  const wrong = await session(host, '?devframe_auth_token=not-ours')
  t.after(() => wrong.req.destroy())
  const refused = answer(await post(host, wrong.id, { t: 'q', i: 'w', m: 'sse:add', a: [1, 2] }))
  assert.match(refused.e.message, /the token is not valid/)
  await host.waitForLog(/token presented and refused/)
})

test('Origin: a page on an origin not allowed gets 403 for the stream, a POST and a preflight; an allowed one gets CORS', async (t) => {
  const evil = { origin: 'https://evil.example' }
  const s = await openStream(host, '/__devtools/__sse', evil)
  assert.equal(s.status, 403)
  const own = await session(host)
  t.after(() => own.req.destroy())
  assert.equal((await post(host, own.id, { t: 'q', i: 'o', m: 'sse:add', a: [1, 1] }, evil)).status, 403)
  const pre = await fetch(`${base()}/__devtools/__sse`, { method: 'OPTIONS', headers: evil })
  assert.equal(pre.status, 403)
  await host.waitForLog(/origin https:\/\/evil\.example refused/)
  // Many at once: none becomes a session.
  const sessions = () => (host.log.match(/\[sse\] c\d+ connected/g) || []).length
  const before = sessions()
  const many = await Promise.all(Array.from({ length: 100 }, () =>
    fetch(`${base()}/__devtools/__sse`, { headers: evil }).then((r) => r.status)))
  assert.deepEqual([...new Set(many)], [403])
  // every one was answered 403 above; their log lines are rate-limited
  assert.equal(sessions(), before)

  const ok = await fetch(`${base()}/__devtools/__sse`, { method: 'OPTIONS', headers: { origin: ORIGIN_OK } })
  assert.equal(ok.status, 204)
  assert.equal(ok.headers.get('access-control-allow-origin'), ORIGIN_OK)
  assert.match(ok.headers.get('access-control-allow-headers'), /x-birpc-session/)
  const cross = await session(host, `?devframe_auth_token=${E2E_TOKEN}`, { origin: ORIGIN_OK })
  t.after(() => cross.req.destroy())
  assert.equal(cross.headers['access-control-allow-origin'], ORIGIN_OK)
  assert.equal(cross.headers['cache-control'], 'no-cache, no-transform')
  assert.equal(cross.headers['x-accel-buffering'], 'no')
  const r = await post(host, cross.id, { t: 'q', i: 'c', m: 'sse:add', a: [1, 1] }, { origin: ORIGIN_OK })
  assert.equal(r.headers.get('access-control-allow-origin'), ORIGIN_OK)
  assert.deepEqual(answer(r), { t: 's', i: 'c', r: 2 })
})

test('hostile POSTs: no session header, an unknown session, bodies over the limits, an untrusted flood', async (t) => {
  let r = await post(host, null, { t: 'q', i: '1', m: 'sse:add', a: [1, 1] })
  assert.equal(r.status, 400)
  assert.match(r.text, /no x-birpc-session header/)
  r = await post(host, 'f'.repeat(32), { t: 'q', i: '1', m: 'sse:add', a: [1, 1] })
  assert.equal(r.status, 400)
  assert.match(r.text, /unknown or closed SSE session/)
  r = await post(host, 'x'.repeat(200), '{}')
  assert.equal(r.status, 400)
  await host.waitForLog(/\[sse\] POST \/__devtools\/__sse refused: unknown or closed session/)

  // Untrusted: 128 KiB; trusted: 1 MiB (limits.*max_message_bytes), as for a WebSocket frame.
  const big = (n) => JSON.stringify({ t: 'q', i: 'big', m: 'anonymous:sse:hello', a: ['y'.repeat(n)] })
  const untrusted = await session(host, '')
  t.after(() => untrusted.req.destroy())
  r = await post(host, untrusted.id, big(200 * 1024))
  assert.equal(r.status, 413)
  assert.match(r.text, /message over 131072 bytes \(untrusted client\)/)
  await host.waitForLog(/\[sse\] c\d+: message over 131072 bytes refused \(untrusted client\)/)
  const trusted = await session(host)
  t.after(() => trusted.req.destroy())
  assert.deepEqual(answer(await post(host, trusted.id, big(200 * 1024))), { t: 's', i: 'big', r: 'hello' })
  r = await post(host, trusted.id, big(1024 * 1024))
  assert.equal(r.status, 413)
  // Both sessions still work.
  assert.deepEqual(answer(await post(host, untrusted.id, { t: 'q', i: 'h', m: 'anonymous:sse:hello', a: [] })).r, 'hello')

  // Untrusted calls over limits.untrusted_calls_per_s (20) are answered overloaded.
  const flood = await session(host, '')
  t.after(() => flood.req.destroy())
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) =>
    post(host, flood.id, { t: 'q', i: `f${i}`, m: 'anonymous:sse:hello', a: [] }).then(answer)))
  const overloaded = answers.filter((a) => a.e?.code === 'overloaded')
  assert.ok(overloaded.length >= 15, `${overloaded.length} of 40 refused`)
  assert.match(overloaded[0].e.message, /too many calls from an untrusted client/)
})

test('a closed GET ends the session: its running call is cancelled (its POST gets 409), its later POSTs 400', async () => {
  const s = await session(host)
  const running = post(host, s.id, { t: 'q', i: 'long', m: 'sse:sleep', a: [30, 'gone'] })
  await host.waitForLog(/sse:sleep gone started/)
  s.req.destroy()
  // Noticed at once, idle as the stream is (lws reads nothing there: http_conn.c, stream_peek).
  const r = await Promise.race([running, new Promise((resolve) => setTimeout(resolve, 3000, { status: 'not noticed in 3 s' }))])
  assert.equal(r.status, 409)
  assert.match(r.text, /SSE session closed before the call was answered/)
  assert.equal((await post(host, s.id, { t: 'q', i: 'again', m: 'sse:add', a: [1, 1] })).status, 400)
  const other = await session(host)
  const ended = answer(await post(host, other.id, { t: 'q', i: 'e', m: 'sse:ended', a: [] }))
  assert.equal(ended.r.gone, 'cancelled')
  other.req.destroy()
})

test('a cancel frame cancels the call its POST waits on; events and replies get 202', async (t) => {
  const s = await session(host)
  t.after(() => s.req.destroy())
  const running = post(host, s.id, { t: 'q', i: 'k', m: 'sse:sleep', a: [30, 'cancel-me'] })
  await host.waitForLog(/sse:sleep cancel-me started/)
  const cancel = await post(host, s.id, { t: 'c', i: 'k' })
  assert.equal(cancel.status, 202)
  const r = await running
  assert.equal(r.status, 200)
  assert.equal(answer(r).e.code, 'rpc_cancelled')
  // An event: nothing to wait for.
  assert.equal((await post(host, s.id, { t: 'q', m: 'sse:shout', a: ['evt'] })).status, 202)
  await s.next((e) => e.data.includes('evt'))
})

test('keep-alive comments while idle; ops close (shutdown) ends the stream with its reason', async (t) => {
  const h = await startHost({
    plugins: tempTree(null, { 'sse.lua': PLUGIN }),
    config: configDir(null, { '10-ka.lua': 'return { http = { sse_keepalive_ms = 20 } }' }),
  })
  let stopped = false
  t.after(() => stopped || h.stop())
  const s = await session(h)
  await s.next((e) => e.comments.includes('ping'))
  stopped = true
  await h.stop()
  await s.closed
  assert.ok(s.events.some((e) => e.comments.some((c) => /^closed 1001 server shutting down$/.test(c))), JSON.stringify(s.events.slice(-3)))
})

test('limits.max_connections counts SSE sessions: past it 503; a closed one frees its slot', async (t) => {
  const h = await startHost({
    plugins: tempTree(null, { 'sse.lua': PLUGIN }),
    config: configDir(null, { '10-cap.lua': 'return { limits = { max_connections = 2 } }' }),
  })
  t.after(() => h.stop())
  const a = await session(h, '')
  const b = await session(h, '')
  const c = await openStream(h, '/__devtools/__sse')
  assert.equal(c.status, 503)
  await h.waitForLog(/\[sse\] session refused: 2 connections already/)
  a.req.destroy()
  await h.waitForLogCount(/\[sse\] c\d+ disconnected/, 1)
  const d = await session(h, '')
  d.req.destroy()
  b.req.destroy()
})

test('a reader that never reads is dropped as a slow consumer (logged); a prompt SSE reader of the same flood is not', async (t) => {
  const h = await startHost({
    plugins: tempTree(null, { 'sse.lua': PLUGIN }),
    config: configDir(null, { '10-slow.lua': 'return { limits = { send_queue_bytes = 65536 } }' }),
  })
  t.after(() => h.stop())
  const slow = await session(h)
  slow.res.socket.pause()
  const reader = await session(h)
  t.after(() => reader.req.destroy())
  let payloads = 0
  const counted = new Promise((resolve) => {
    reader.res.on('data', () => {
      payloads = reader.events.filter((e) => e.data.includes('sse:payload')).length
      if (payloads >= 1) resolve()
    })
  })
  const flood = await post(h, reader.id, { t: 'q', i: 'flood', m: 'sse:flood', a: [5000, 16384, 0.002] })
  const rounds = answer(flood).r
  assert.ok(rounds > 0, `the flood ended without dropping anyone (${flood.text})`)
  await counted
  const [, slowId] = await h.waitForLog(/\[sse\] (c\d+): send queue over 65536 bytes \(slow consumer\): closing/)
  await h.waitForLog(new RegExp(`\\[sse\\] ${slowId} disconnected`))
  assert.equal((await post(h, slow.id, { t: 'q', i: 'x', m: 'sse:add', a: [1, 1] })).status, 400)
  const health = await (await fetch(`${base(h)}/__moonhost/health`)).json()
  assert.equal(health.clients, 1, 'the reader only')
  // The prompt reader got every round.
  await reader.next((e) => e.data.includes('sse:payload') && reader.events.filter((x) => x.data.includes('sse:payload')).length >= rounds)
  slow.res.socket.resume()
  await slow.closed
})

test('http.devframe_backend takes websocket or sse only', async () => {
  const dir = scratchDir()
  writeFileSync(join(dir, '00-test.lua'), testConfigSource())
  writeFileSync(join(dir, '10-bad.lua'), "return { http = { devframe_backend = 'pigeon' } }")
  const r = await runMoonhost(['config', '--config', dir])
  assert.equal(r.code, 2)
  assert.match(r.stderr + r.stdout, /http\.devframe_backend/)
})
