// Vite DevTools compatibility with the REAL client packages, against a real
// moonhost: @vitejs/devtools-rpc 0.1.15 (createRpcClient + its ws preset) and
// @vitejs/devtools-kit 0.8.0 (getDevToolsRpcClient, i.e. devframe 1.3's client),
// run in Node with the few browser globals they need (lib/devtools-env.mjs).
// The expected wire behaviour is the capture in shared/protocol/vite-devtools-0.8.md.
import { openPage, closePage, frames, requests, waitFrame, USER_AGENT } from './lib/devtools-env.mjs'
import { test, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { stringify } from 'structured-clone-es'
import { createRpcClient } from '@vitejs/devtools-rpc/client'
import { createWsRpcPreset } from '@vitejs/devtools-rpc/presets/ws/client'
import { getDevToolsRpcClient } from '@vitejs/devtools-kit/client'
import { startHost, E2E_TOKEN } from './lib/host.mjs'
import { copyFixturePlugins, scratchDir, deferred, rejectionOf, rawClient } from './lib/util.mjs'

// Only the devtools fixture plugin, so the cacheable list is exactly its own.
let host
before(async () => {
  host = await startHost({ plugins: copyFixturePlugins(['devtools.lua'], scratchDir()) })
})
afterEach(() => closePage())
after(() => host.stop())

// Values beyond JSON, as a Vite DevTools panel sends them.
const values = () => [
  new Date(0),
  new Map([['a', 1], [2, new Set(['x'])]]),
  new Set([1, 5n]),
  5n,
  -123456789012345678901234567890n,
  { at: new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789)), list: [new Map(), 7] },
]

const sent = (m) => frames.filter((f) => f.dir === 'out' && f.msg?.m === m)
const received = (pred) => frames.filter((f) => f.dir === 'in' && pred(f.msg ?? {}))

/** The 0.1 client stack as its ws preset builds it, connected to url; functions: client functions. */
async function rpcClient01(url, functions = {}) {
  const open = deferred()
  const rpc = createRpcClient(functions, {
    preset: createWsRpcPreset({ url, authToken: E2E_TOKEN, onConnected: open.resolve, onError: open.reject }),
  })
  await open.promise
  return rpc
}

/**
 * The 0.8 client as a Vite DevTools page at http://127.0.0.1:PORT/ opens it,
 * with `trusted`: the isTrusted its own anonymous:devframe:auth handshake got.
 */
async function kitClient(t, authToken, options = {}) {
  openPage(host.port)
  const rpc = await getDevToolsRpcClient({ baseURL: '/__devtools/', authToken, ...options })
  t.after(() => rpc.close())
  // It returns before its socket opens, so the handshake has not answered yet.
  const trusted = new Promise((resolve) => rpc.events.on('rpc:is-trusted:updated', resolve))
  return { rpc, trusted }
}

test('@vitejs/devtools-rpc 0.1: discovery, Date/Map/Set/BigInt through Lua, a broadcast', async () => {
  openPage(host.port)
  // What the 0.1 Vite DevTools client reads first: a bare port means ws://<page host>:<port>/.
  const meta = await (await fetch('/.devtools/.connection.json')).json()
  assert.deepEqual(meta, { backend: 'websocket', websocket: host.port })
  const notified = deferred()
  const rpc = await rpcClient01(`ws://${location.hostname}:${meta.websocket}/`, {
    'client:notify': (msg) => notified.resolve(msg),
  })
  assert.equal(frames.length, 0)

  const args = values()
  assert.deepStrictEqual(await rpc.$call('devtools:echo', ...args), args)
  assert.equal(await rpc.$call('devtools:broadcast', 'hi'), true)
  assert.equal(await notified.promise, 'hi')

  // The preset put the token in the URL; both sides spoke structured-clone record arrays.
  assert.equal(frames[0].url, `ws://127.0.0.1:${host.port}/?vite_devtools_auth_token=${E2E_TOKEN}`)
  for (const f of frames) assert.equal(f.text[0], '[', `not a record array: ${f.dir} ${f.text}`)
  assert.deepEqual(received((m) => m.m === 'client:notify').map((f) => f.msg), [
    { m: 'client:notify', a: ['hi'], t: 'q', o: true },
  ])
})

test('@vitejs/devtools-kit 0.8: discovery, auth handshake, Date/Map/Set/BigInt through Lua, a broadcast', async (t) => {
  const { rpc, trusted } = await kitClient(t, E2E_TOKEN)
  const notified = deferred()
  rpc.client.register({ name: 'client:notify', type: 'event', handler: (msg) => notified.resolve(msg) })
  assert.equal(await trusted, true)
  assert.equal(rpc.isTrusted, true)
  assert.equal(rpc.status, 'connected')
  assert.equal(rpc.transport, 'websocket')

  // Discovery is the only HTTP request; the socket URL comes from it.
  assert.deepEqual(requests, [`http://127.0.0.1:${host.port}/__devtools/__connection.json`])
  assert.deepEqual(rpc.connectionMeta, {
    backend: 'websocket', websocket: { path: '/__devtools/__ws' }, sse: { path: '/__devtools/__sse' },
  })
  assert.equal(frames[0].url, `ws://127.0.0.1:${host.port}/__devtools/__ws?devframe_auth_token=${E2E_TOKEN}`)
  // The handshake is the first frame, as in the capture.
  const hello = frames[0].msg
  assert.equal(hello.m, 'anonymous:devframe:auth')
  assert.deepEqual(hello.a, [{ authToken: E2E_TOKEN, ua: USER_AGENT, origin: `http://127.0.0.1:${host.port}` }])
  assert.deepEqual(received((m) => m.i === hello.i)[0].msg, { t: 's', i: hello.i, r: { isTrusted: true } })

  const args = values()
  assert.deepStrictEqual(await rpc.call('devtools:echo', ...args), args)
  assert.equal(await rpc.call('devtools:broadcast', 'hi'), true)
  assert.equal(await notified.promise, 'hi')
  assert.deepEqual(received((m) => m.m === 'client:notify').map((f) => f.msg), [
    { m: 'client:notify', a: ['hi'], t: 'q', o: true },
  ])

  // No jsonSerializableMethods advertised: every frame, both ways, is devframe's "s:" form.
  assert.equal(sent('devtools:echo').length, 1)
  for (const f of frames) assert.ok(f.text.startsWith('s:'), `not an s: frame: ${f.dir} ${f.text}`)
})

// The reference sends the error as a structured-clone Error record ([7, {name, message}]),
// which the clients revive as an Error.
test('0.1 client: an unknown function rejects with birpc\'s Error', async () => {
  openPage(host.port)
  const rpc = await rpcClient01(`ws://127.0.0.1:${host.port}/`)
  const err = await rejectionOf(rpc.$call('devtools:nope', 1))
  assert.equal(err.message, '[birpc] function "devtools:nope" not found')
  assert.ok(err instanceof Error, `rejected with ${JSON.stringify(err)}; on the wire: ${frames.at(-1).text}`)
})

test('0.8 client: an unknown function rejects with birpc\'s Error', async (t) => {
  const { rpc, trusted } = await kitClient(t, E2E_TOKEN)
  assert.equal(await trusted, true)
  const err = await rejectionOf(rpc.call('devtools:nope', 1))
  const reply = received((m) => m.i === sent('devtools:nope')[0].msg.i)[0]
  assert.ok(err instanceof Error)
  assert.equal(err.message, '[birpc] function "devtools:nope" not found', `on the wire: ${reply.text}`)
})

test('0.8 client with a wrong token: unauthorized; the right token through anonymous:devframe:auth trusts it', async (t) => {
  const { rpc, trusted } = await kitClient(t, 'wrong-token')
  assert.equal(await trusted, false)
  assert.equal(rpc.isTrusted, false)
  assert.equal(rpc.status, 'unauthorized')
  assert.deepEqual(received((m) => m.t === 's')[0].msg.r, { isTrusted: false })
  // The client refuses calls itself once unauthorized.
  const refused = await rejectionOf(rpc.call('devtools:echo', 1))
  assert.equal(refused.kind, 'auth')
  assert.equal(sent('devtools:echo').length, 0)

  assert.equal(await rpc.requestTrustWithToken(E2E_TOKEN), true)
  assert.equal(rpc.isTrusted, true)
  assert.equal(rpc.status, 'connected')
  assert.deepStrictEqual(await rpc.call('devtools:echo', new Date(0), 5n), [new Date(0), 5n])
})

test('raw untrusted socket: a non-anonymous call is unauthorized until anonymous:devframe:auth presents the token', async () => {
  const raw = await rawClient(host, '/__devtools/__ws?devframe_auth_token=wrong-token')
  // Plain JSON replies keep the error's code (the structured-clone Error record has no room for it).
  raw.send({ m: 'devtools:echo', a: [1], t: 'q', i: 'u1' })
  const denied = await raw.replyTo('u1')
  assert.equal(denied.e.code, 'unauthorized')
  assert.match(denied.e.message, /devtools:echo.*not authorized/)

  raw.send({ m: 'anonymous:devframe:auth', a: [{ authToken: 'still-wrong' }], t: 'q', i: 'a1' })
  assert.deepEqual((await raw.replyTo('a1')).r, { isTrusted: false })
  raw.send({ m: 'anonymous:devframe:auth', a: [{ authToken: E2E_TOKEN, ua: USER_AGENT, origin: 'http://localhost:5173' }], t: 'q', i: 'a2' })
  assert.deepEqual((await raw.replyTo('a2')).r, { isTrusted: true })
  raw.send({ m: 'devtools:echo', a: [1], t: 'q', i: 'u2' })
  assert.deepEqual(await raw.replyTo('u2'), { t: 's', i: 'u2', r: [1] })
})

/** The HTTP status of a WebSocket upgrade to the devframe endpoint sent with this Origin. */
function upgradeStatus(origin) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/__devtools/__ws?devframe_auth_token=${E2E_TOKEN}`, { origin })
    ws.once('open', () => {
      ws.close()
      resolve(101)
    })
    ws.once('unexpected-response', (req, res) => {
      res.resume()
      req.destroy()
      resolve(res.statusCode)
    })
    ws.on('error', reject)
  })
}

test('Origin: a foreign site gets HTTP 403 on upgrade; loopback origins are accepted', async () => {
  assert.equal(await upgradeStatus('https://evil.example'), 403)
  assert.equal(await upgradeStatus('http://127.0.0.1.evil.example'), 403)
  for (const origin of ['http://localhost:5173', 'http://127.0.0.1:1234', 'http://[::1]:80', 'http://app.localhost']) {
    assert.equal(await upgradeStatus(origin), 101, origin)
  }
})

test('start-up internals: server-state get/subscribe, cacheable functions, cache invalidation', async (t) => {
  const { rpc, trusted } = await kitClient(t, E2E_TOKEN, { cacheOptions: true })
  assert.equal(await trusted, true)

  // Once trusted, the client itself subscribes to and gets its services state; the host answers {}.
  const get = await waitFrame((f) => f.dir === 'out' && f.msg?.m === 'devframe:rpc:server-state:get')
  assert.deepEqual(get.msg.a, ['devframe:services'])
  assert.deepEqual((await waitFrame((f) => f.dir === 'in' && f.msg?.i === get.msg.i)).msg, { t: 's', i: get.msg.i, r: {} })
  const [subscribe] = sent('devframe:rpc:server-state:subscribe')
  assert.deepEqual(subscribe.msg, { m: 'devframe:rpc:server-state:subscribe', a: ['devframe:services'], t: 'q' })
  assert.deepEqual(await rpc.call('devframe:rpc:server-state:get', 'devframe:services'), {})

  // The subscribe event is accepted (sent as a call, it is answered without an error).
  const raw = await rawClient(host, `/__devtools/__ws?devframe_auth_token=${E2E_TOKEN}`)
  raw.send(`s:${stringify({ m: 'devframe:rpc:server-state:subscribe', a: ['devframe:services'], t: 'q', i: 's1' })}`)
  assert.deepEqual(await raw.replyTo('s1'), { t: 's', i: 's1' })
  raw.send({ m: 'devframe:rpc:cacheable-functions', a: [], t: 'q', i: 'c1' })
  assert.deepEqual((await raw.replyTo('c1')).r.sort(), ['devtools:cached', 'devtools:static'])

  // With cacheOptions the client asks for the cacheable functions before its first call,
  // then answers repeated calls of those from its own cache.
  const first = await rpc.call('devtools:cached', 'k')
  assert.deepEqual(first, { key: 'k', run: 1, version: 0 })
  assert.deepEqual([...rpc.cacheManager.options.functions].sort(), ['devtools:cached', 'devtools:static'])
  assert.deepEqual(await rpc.call('devtools:cached', 'k'), first)
  assert.equal(sent('devtools:cached').length, 1)

  // ctx.rpc.invalidate reaches every connected client as devframe:rpc:cache:invalidate.
  const invalidated = deferred()
  const own = rpc.client.get('devframe:rpc:cache:invalidate')
  rpc.client.update({ ...own, handler: (...a) => (own.handler(...a), invalidated.resolve(a)) })
  assert.equal(await rpc.call('devtools:bump'), 1)
  assert.deepEqual(await invalidated.promise, [])
  assert.deepEqual(received((m) => m.m === 'devframe:rpc:cache:invalidate')[0].msg, {
    m: 'devframe:rpc:cache:invalidate', a: [], t: 'q', o: true,
  })
  let event
  do event = await raw.next()
  while (event.m !== 'devframe:rpc:cache:invalidate')
  assert.deepEqual(event, { m: 'devframe:rpc:cache:invalidate', a: [], t: 'q', o: true })

  // The client dropped its cache and the host its own: the next call runs the handler again.
  assert.equal(rpc.cacheManager.has('devtools:cached', ['k']), false)
  assert.deepEqual(await rpc.call('devtools:cached', 'k'), { key: 'k', run: 2, version: 1 })
  assert.equal(sent('devtools:cached').length, 2)
})
