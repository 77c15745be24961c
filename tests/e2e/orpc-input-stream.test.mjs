// oRPC streamed inputs: a client's async iterator as a call's input, sent by
// the real @orpc/client (RPCLink over Node's fetch, which needs
// duplex: 'half' for a streamed body) as a chunked text/event-stream body;
// a Lua handler declared with input_stream = true reads it as an iterator.
// Then hostile raw HTTP: bad chunk sizes, oversized chunks and events, a
// body that never ends, events without data; the host keeps serving.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { createORPCClient, ORPCError } from '@orpc/client'
import { RPCLink } from '@orpc/client/fetch'
import { ErrorEvent } from '@orpc/standard-server'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { hostFor, rejectionOf, configDir, tempTree } from './lib/util.mjs'
import { E2E_TOKEN, repoRoot } from './lib/host.mjs'

const PLUGIN = `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'sin',
  setup = function(ctx)
    local function fn(def) ctx.rpc.register(moonhost.define_rpc_function(def)) end
    -- Sums the numbers the client streams.
    fn { name = 'sin:sum', type = 'action', input_stream = true, handler = function(input)
      local sum, n = 0, 0
      for x in input do sum = sum + x; n = n + 1 end
      return { sum = sum, n = n, done = input:done_value() }
    end }
    -- What arrived, item by item, with the types Lua sees.
    fn { name = 'sin:collect', type = 'action', input_stream = true, handler = function(input)
      local items = {}
      for x in input do items[#items + 1] = x end
      return { items = items, done = input:done_value() }
    end }
    -- Catches the error that ended the iterator.
    fn { name = 'sin:catch', type = 'action', input_stream = true, handler = function(input)
      local got = 0
      local ok, err = pcall(function() for _ in input do got = got + 1 end end)
      if type(err) ~= 'table' then return { ok = ok, got = got, message = tostring(err) } end
      return { ok = ok, got = got, message = err.message, code = err.code }
    end }
    -- Reads one item, then waits for more that never come; its cleanup logs.
    fn { name = 'sin:hang', type = 'action', input_stream = true, handler = function(input)
      moonhost.on_cancel(function() ctx.log.info('sin:hang cancelled after ' .. tostring(ctx.hang_items)) end)
      ctx.hang_items = 0
      for _ in input do ctx.hang_items = ctx.hang_items + 1; ctx.log.info('sin:hang item ' .. ctx.hang_items) end
      return 'ended'
    end }
    -- Takes one item, then nothing until sin:open is called; then the rest.
    fn { name = 'sin:slow', type = 'action', input_stream = true, handler = function(input)
      input() -- the first item
      ctx.log.info('sin:slow took its first item')
      for _ = 1, 3000 do if ctx.open then break end moonhost.sleep(0.01) end
      local n = 1
      for _ in input do n = n + 1 end
      return { n = n }
    end }
    fn { name = 'sin:open', type = 'action', handler = function() ctx.open = true end }
    -- Sums slowly: 50 ms of work per item.
    fn { name = 'sin:trickle', type = 'action', input_stream = true, handler = function(input)
      local sum = 0
      for x in input do moonhost.sleep(0.05); sum = sum + x end
      return sum
    end }
    -- Reads two items, then stops reading.
    fn { name = 'sin:two', type = 'action', input_stream = true, handler = function(input)
      local a, b = input(), input()
      input:cancel()
      return a + b
    end }
    fn { name = 'sin:plain', type = 'action', handler = function(x) return x end }
  end,
}
`

// Node's fetch sends a streamed body only with duplex: 'half', which
// RPCLink does not set; it builds a Request first, so the global Request
// gets it (Node 20; browsers send streamed bodies over HTTP/2 only).
const NodeRequest = globalThis.Request
globalThis.Request = class extends NodeRequest {
  constructor(input, init) {
    super(input, init && init.body ? { ...init, duplex: 'half' } : init)
  }
}

/** RPCLink over Node's fetch. */
function orpc(host) {
  const link = new RPCLink({
    url: `http://127.0.0.1:${host.port}/rpc`,
    headers: { authorization: `Bearer ${E2E_TOKEN}` },
  })
  return createORPCClient(link)
}

async function startSin(t, config = {}) {
  const plugins = tempTree(t, { 'sin.lua': PLUGIN })
  return hostFor(t, { plugins, config: configDir(t, config) })
}

async function* numbers(n) {
  for (let i = 1; i <= n; i++) yield i
}

/**
 * A raw HTTP/1.1 request on its own socket: head, then body parts written as
 * given; resolves with the status, the body text and whether the socket
 * closed. keepOpen: do not end our side.
 */
function rawRequest(host, path, headers, parts, { keepOpen = true } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(host.port, '127.0.0.1')
    let data = ''
    sock.setEncoding('latin1')
    sock.on('data', (d) => (data += d))
    sock.on('error', reject)
    sock.on('close', () => {
      const m = /^HTTP\/1\.1 (\d+)/.exec(data)
      const body = data.slice(data.indexOf('\r\n\r\n') + 4)
      resolve({ status: m ? Number(m[1]) : 0, body, raw: data })
    })
    const head = [`POST ${path} HTTP/1.1`, `host: 127.0.0.1:${host.port}`, `authorization: Bearer ${E2E_TOKEN}`]
    for (const [k, v] of Object.entries(headers)) head.push(`${k}: ${v}`)
    sock.write(head.join('\r\n') + '\r\n\r\n')
    for (const p of parts) sock.write(p)
    if (!keepOpen) sock.end()
  })
}

const SSE = { 'content-type': 'text/event-stream', 'transfer-encoding': 'chunked' }
const chunk = (s) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`
const item = (v) => `event: message\ndata: ${JSON.stringify({ json: v })}\n\n`

async function assertServing(host) {
  assert.deepEqual(await orpc(host).sin.plain({ a: 1 }), { a: 1 })
}

test('a Lua handler sums 1000 streamed numbers', async (t) => {
  const host = await startSin(t)
  const client = orpc(host)
  const out = await client.sin.sum(numbers(1000))
  assert.deepEqual(out, { sum: 500500, n: 1000 })
  // An empty iterator, and the value the client's generator returns.
  assert.deepEqual(await client.sin.sum(numbers(0)), { sum: 0, n: 0 })
  async function* withDone() {
    yield 5
    return { total: 'five' }
  }
  assert.deepEqual(await client.sin.sum(withDone()), { sum: 5, n: 1, done: { total: 'five' } })
})

test('a streamed input may last longer than http.request_timeout_ms while it keeps moving (a slow client, a slow handler); one that stops gets 408', async (t) => {
  const host = await startSin(t, { '10-http.lua': 'return { http = { request_timeout_ms = 1000 } }' })
  // A slow client: an item every 250 ms for 3 s, three times the timeout.
  async function* paced() {
    for (let i = 1; i <= 12; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      yield i
    }
  }
  assert.deepEqual(await orpc(host).sin.sum(paced()), { sum: 78, n: 12 })
  // A fast client and a slow handler: 70 items sent at once (reading pauses at 64 unread), taken
  // 50 ms apart for 3.5 s; each item the handler takes moves the request.
  assert.equal(await orpc(host).sin.trickle(numbers(70)), 70 * 71 / 2)
  // One that stops moving: the timeout counts from its last item.
  const res = await rawRequest(host, '/rpc/sin/sum', SSE, [chunk(': \n\n' + item(1))])
  assert.equal(res.status, 408)
  await assertServing(host)
})

test('a handler that does not read stops the socket being read (backpressure); it resumes', async (t) => {
  const host = await startSin(t)
  const ITEMS = 2000
  const block = 'x'.repeat(4096) // 8 MB in all: more than the socket buffers hold
  let pulled = 0
  async function* big() {
    yield 0
    for (let i = 1; i < ITEMS; i++) {
      pulled = i
      yield block
    }
  }
  const client = orpc(host)
  const call = client.sin.slow(big())
  await host.waitForLog(/sin:slow took its first item/)
  await host.waitForLog(/\/rpc\/sin\/slow: streamed input: the handler holds \d+ items: reading paused/)
  // The client's writes block: its generator is not drained while Lua holds 64 items.
  assert.ok(pulled < ITEMS - 1, `the generator was drained (${pulled}) while the handler read nothing`)
  await client.sin.open()
  assert.deepEqual(await call, { n: ITEMS })
  await host.waitForLog(/\/rpc\/sin\/slow: streamed input: reading resumed/)
})

test('typed items (Date, BigInt) arrive through meta', async (t) => {
  const host = await startSin(t)
  async function* typed() {
    yield new Date('2024-02-29T12:34:56.789Z')
    yield 12345678901234567890n
    yield { at: new Date(0), big: 7n, s: 'x' }
  }
  const out = await orpc(host).sin.collect(typed())
  assert.deepEqual(out.items, [new Date('2024-02-29T12:34:56.789Z'), 12345678901234567890n, { at: new Date(0), big: 7n, s: 'x' }])
})

test('an error event from the client ends the iterator with that error in Lua', async (t) => {
  const host = await startSin(t)
  async function* failing() {
    yield 1
    yield 2
    // RPCLink sends what it throws as `event: error` with oRPC's error body.
    throw new ORPCError('CONFLICT', { message: 'the source broke' })
  }
  const out = await orpc(host).sin.catch(failing())
  assert.deepEqual(out, { ok: false, got: 2, message: 'the source broke', code: 'CONFLICT' })
  // An ErrorEvent whose data is no oRPC error arrives as the client makes it.
  async function* errorEvent() {
    yield 1
    throw new ErrorEvent({ data: { why: 'x' } })
  }
  const out2 = await orpc(host).sin.catch(errorEvent())
  assert.deepEqual(out2, { ok: false, got: 1, message: 'Internal server error', code: 'INTERNAL_SERVER_ERROR' })
})

test('the client aborting cancels the handler (its cleanup runs); the host keeps serving', async (t) => {
  const host = await startSin(t)
  const ac = new AbortController()
  let release
  const gate = new Promise((r) => (release = r))
  async function* slow() {
    yield 1
    await gate // never released before the abort
  }
  const call = orpc(host).sin.hang(slow(), { signal: ac.signal })
  await host.waitForLog(/sin:hang item 1/)
  ac.abort()
  const err = await rejectionOf(call)
  assert.match(String(err?.name ?? err), /Abort/)
  await host.waitForLog(/sin:hang cancelled after 1/)
  release()
  await assertServing(host)
})

test('a function not declared for streamed input refuses one; a declared one refuses JSON', async (t) => {
  const host = await startSin(t)
  const err = await rejectionOf(orpc(host).sin.plain(numbers(3)))
  assert.ok(err instanceof ORPCError)
  assert.equal(err.status, 415)
  assert.match(err.message, /does not take a streamed input/)
  const err2 = await rejectionOf(orpc(host).sin.sum(3))
  assert.ok(err2 instanceof ORPCError)
  assert.equal(err2.status, 415)
  assert.match(err2.message, /takes a streamed input/)
  await assertServing(host)
})

test('hostile chunked bodies get clear answers; the host keeps serving', async (t) => {
  const host = await startSin(t, { '10-limits.lua': 'return { limits = { max_message_bytes = 4096 }, http = { request_timeout_ms = 1500 } }' })
  // A chunk size that is not hex.
  let res = await rawRequest(host, '/rpc/sin/sum', SSE, [': \n\n'.length.toString(16) + '\r\n: \n\n\r\n', 'zz\r\nhello\r\n'])
  assert.equal(res.status, 400)
  assert.match(res.body, /chunk size that is not hex/)
  // A chunk size over limits.max_message_bytes.
  res = await rawRequest(host, '/rpc/sin/sum', SSE, ['100000\r\n'])
  assert.equal(res.status, 413)
  assert.match(res.body, /PAYLOAD_TOO_LARGE/)
  // Too many hex digits.
  res = await rawRequest(host, '/rpc/sin/sum', SSE, ['000000000001\r\n'])
  assert.equal(res.status, 400)
  // An event whose data is over limits.max_message_bytes, in small chunks.
  const big = item('x'.repeat(5000))
  res = await rawRequest(host, '/rpc/sin/sum', SSE, [chunk(big.slice(0, 3000)), chunk(big.slice(3000))])
  assert.equal(res.status, 413)
  assert.match(res.body, /over limits.max_message_bytes/)
  // An event: message without a data line.
  res = await rawRequest(host, '/rpc/sin/sum', SSE, [chunk(': \n\nevent: message\n\n'), '0\r\n\r\n'])
  assert.equal(res.status, 400)
  assert.match(res.body, /without a data line/)
  // A body that never ends: the request timeout answers (and closes).
  res = await rawRequest(host, '/rpc/sin/sum', SSE, [chunk(': \n\n' + item(1))])
  assert.equal(res.status, 408)
  assert.match(res.body, /request_timeout_ms/)
  // Data beyond a chunk's size.
  res = await rawRequest(host, '/rpc/sin/sum', SSE, ['2\r\nabcd\r\n'])
  assert.equal(res.status, 400)
  // A well-formed raw one with trailers and an extension.
  res = await rawRequest(host, '/rpc/sin/sum', SSE, [chunk(item(2)) .replace('\r\n', ';ext=1\r\n'), chunk(item(3)), '0\r\nx-trailer: y\r\n\r\n'])
  assert.equal(res.status, 200)
  assert.deepEqual(JSON.parse(res.body), { json: { sum: 5, n: 2 } })
  // A chunked body to a route that takes none.
  res = await rawRequest(host, '/__health', SSE, ['0\r\n\r\n'])
  assert.equal(res.status, 411)
  await assertServing(host)
})

test('items under max_message_bytes each but over max_input_stream_bytes in all end with 413', async (t) => {
  const host = await startSin(t, { '10-limits.lua': 'return { limits = { max_input_stream_bytes = 2048 } }' })
  // The answer comes while the client is still sending: the host reads the
  // rest of the body and drops it, so the client gets the answer.
  async function* many() {
    for (let i = 0; i < 200; i++) yield i
  }
  const err = await rejectionOf(orpc(host).sin.sum(many()))
  assert.ok(err instanceof ORPCError, String(err))
  assert.equal(err.status, 413)
  assert.match(err.message, /max_input_stream_bytes/)
  // The same raw.
  const parts = []
  for (let i = 0; i < 100; i++) parts.push(chunk(item(i)))
  const res = await rawRequest(host, '/rpc/sin/sum', SSE, parts)
  assert.equal(res.status, 413)
  assert.match(res.body, /max_input_stream_bytes/)
  await assertServing(host)
})

test('a handler that stops reading (input:cancel) answers; the rest of the body is dropped', async (t) => {
  const host = await startSin(t)
  assert.equal(await orpc(host).sin.two(numbers(3000)), 3)
  await assertServing(host)
})

test('over the WebSocket an input_stream function says how to call it', async (t) => {
  const host = await startSin(t)
  const { rpc, close } = await host.connect()
  t.after(close)
  const err = await rejectionOf(rpc.$call('sin:sum', '0123456789abcdef0123456789abcdef'))
  assert.match(err.message, /takes a streamed input: call it over oRPC with an event iterator/)
})

test('docs/plugins.md: the streamed-input example works as the guide shows', async (t) => {
  const text = readFileSync(join(repoRoot, 'docs/plugins.md'), 'utf8')
  const section = text.slice(text.indexOf('## Streamed inputs'), text.indexOf('## Streaming channels'))
  const plugin = /^```lua plugin\n([\s\S]*?)^```$/m.exec(section)[1]
  const client = /^```js\n([\s\S]*?)^```$/m.exec(section)[1]
  const plugins = tempTree(t, { 'tally.lua': plugin })
  const host = await hostFor(t, { plugins })
  const body = client.replace(/^import .*$/gm, '') + '\nreturn result'
  const AsyncFunction = (async () => {}).constructor
  const run = new AsyncFunction('createORPCClient', 'RPCLink', 'port', 'token', body)
  const result = await run(createORPCClient, RPCLink, host.port, E2E_TOKEN)
  assert.deepEqual(result, { sum: 5050, count: 100, label: 'one to a hundred' })
})

test('an answer before a chunked body ends closes the connection: nothing in the rest of the body is read as a request', async (t) => {
  const host = await startSin(t)
  const smuggled = `GET /__health HTTP/1.1\r\nhost: 127.0.0.1:${host.port}\r\n\r\n`
  // Refused at once (415: not a streamed-input function; 404: no such function), before the body is read.
  for (const path of ['/rpc/sin/plain', '/rpc/sin/nope']) {
    const res = await rawRequest(host, path, SSE, [smuggled, chunk(item(1))])
    assert.ok(res.status === 415 || res.status === 404, res.raw)
    assert.match(res.raw, /\r\nconnection: close\r\n/i)
    assert.equal(res.raw.match(/HTTP\/1\.1 \d+/g).length, 1, `one answer, not two: ${res.raw}`)
  }
  // The real client: refused streamed calls, each followed by a plain call on the pooled connections.
  for (let i = 0; i < 20; i++) {
    const err = await rejectionOf(orpc(host).sin.plain(numbers(50)))
    assert.equal(err.status, 415)
    await assertServing(host)
  }
})
