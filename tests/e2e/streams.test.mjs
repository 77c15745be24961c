// Streams (issue 16): Lua stream functions read by the real @orpc/client
// 1.16 as event iterators over HTTP (text/event-stream): chunks in order,
// typed values per chunk, errors, resume with Last-Event-ID through
// ClientRetryPlugin, abort and reload running the plugin's cleanups, a slow
// reader holding back its own producer only, and a WebSocket caller told
// where to read a stream.
//
// Synchronisation is by replies, chunks and log lines; the slow reader's
// producer is seen to stop by polling its counter (bounded).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { createORPCClient, ORPCError } from '@orpc/client'
import { RPCLink } from '@orpc/client/fetch'
import { ClientRetryPlugin } from '@orpc/client/plugins'
import { hostFor, rejectionOf, configDir, tempTree, runMoonhost } from './lib/util.mjs'
import { E2E_TOKEN } from './lib/host.mjs'
import { TICKS, buildHost, drain } from './lib/ticks.mjs'


function orpc(host, opts = {}) {
  return createORPCClient(new RPCLink({
    url: `http://127.0.0.1:${host.port}/rpc`,
    headers: { authorization: `Bearer ${E2E_TOKEN}` },
    ...opts,
  }))
}

async function ticksHost(t, config = {}) {
  const plugins = tempTree(t, { 'ticks.lua': TICKS })
  const host = await hostFor(t, { plugins, config: configDir(t, config) })
  await host.waitForLog(/\[plugin\] ticks: loaded/)
  return { host, plugins }
}

test('@orpc/client reads a Lua stream of 1000 chunks in order, then its final value', async (t) => {
  const { host } = await ticksHost(t)
  const client = orpc(host)
  const { chunks, final } = await drain(await client.ticks.count(1000))
  assert.deepEqual(final, { total: 1000 }, 'event: done carries the returned value')
  assert.deepEqual(chunks, Array.from({ length: 1000 }, (_, i) => i + 1))
  // The same with for await, and the host keeps serving plain calls.
  const again = []
  for await (const v of await client.ticks.count(3)) again.push(v)
  assert.deepEqual(again, [1, 2, 3])
  assert.deepEqual(await client.ticks.state(), { emitted: 0, cleanups: 0 })
  assert.doesNotMatch(host.log, /\[lws\]/, 'libwebsockets has nothing to complain about')
})

test('each chunk keeps its types: Date and BigInt', async (t) => {
  const { host } = await ticksHost(t)
  const got = []
  for await (const v of await orpc(host).ticks.typed()) got.push(v)
  assert.equal(got.length, 3)
  assert.ok(got[0].at instanceof Date)
  assert.equal(got[0].at.getTime(), 1709210096789)
  assert.equal(got[0].big, 123456789012345678901234567890n)
  assert.equal(got[1], -42n)
  assert.equal(got[2].toISOString(), '2024-02-29T12:34:56.789Z')
})

test('a failing stream throws an ORPCError from the iterator, after its chunks', async (t) => {
  const { host } = await ticksHost(t)
  const client = orpc(host)
  const got = []
  const err = await rejectionOf((async () => {
    for await (const v of await client.ticks.fail()) got.push(v)
  })())
  assert.deepEqual(got, [1, 2])
  assert.ok(err instanceof ORPCError, `expected an ORPCError, got ${err}`)
  assert.equal(err.code, 'CONFLICT')
  assert.equal(err.status, 409)
  assert.equal(err.message, 'the build broke')
  assert.deepEqual(err.data, { step: 3 })
  // Arguments that do not match the schema: the same, before any chunk.
  const bad = await rejectionOf((async () => {
    for await (const v of await client.ticks.count('ten')) got.push(v)
  })())
  assert.ok(bad instanceof ORPCError)
  assert.equal(bad.code, 'BAD_REQUEST')
  assert.match(bad.message, /argument 1: expected integer, got string/)
})

test('a producer\'s budget counts from one chunk to the next: long work between chunks is served, a loop that never emits is stopped', { timeout: 60000 }, async (t) => {
  const spin = `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'spin', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'spin:work', type = 'action', stream = true, handler = function()
    return moonhost.stream(function(emit)
      -- Each stretch is about 3 M instructions: under the budget (5 M), all four well over it.
      for n = 1, 4 do
        local x = 0
        for i = 1, 1500000 do x = x + i end
        emit(n)
      end
      while true do end
    end)
  end })
end }
`
  const plugins = tempTree(t, { 'spin.lua': spin })
  const host = await hostFor(t, { plugins, config: configDir(t, { '10-budget.lua': 'return { lua = { instruction_budget = 5000000, max_run_ms = 600000 } }' }) })
  const got = []
  const err = await rejectionOf((async () => {
    for await (const v of await orpc(host).spin.work()) got.push(v)
  })())
  assert.deepEqual(got, [1, 2, 3, 4])
  assert.ok(err instanceof ORPCError, `expected an ORPCError, got ${err}`)
  assert.match(err.message, /stopped after \d+ instructions \(lua\.instruction_budget\)/)
  await host.waitForLog(/spin: spin:work.*stopped after \d+ instructions/)
})

test('ClientRetryPlugin resumes a broken stream with Last-Event-ID, without loss or duplicates', async (t) => {
  const { host } = await ticksHost(t)
  const client = orpc(host, { plugins: [new ClientRetryPlugin()] })
  const got = []
  const it = await client.ticks.resumable(undefined, { context: { retry: 2 } })
  for await (const v of it) got.push(v.n)
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  await host.waitForLog(/\[ticks\] resumable: from nil/)
  await host.waitForLog(/\[ticks\] resumable: from 5/)
})

test('aborting the reader (AbortSignal) cancels the producer and runs its cleanup', async (t) => {
  const { host } = await ticksHost(t)
  const client = orpc(host)
  const ac = new AbortController()
  const it = await client.ticks.forever(undefined, { signal: ac.signal })
  for (let i = 1; i <= 3; i++) assert.equal((await it.next()).value.n, i)
  ac.abort()
  await host.waitForLog(/\[ticks\] forever: cleanup ran \(1\)/)
  await host.waitForLog(/the reader left; stream cancelled/)
  assert.equal((await client.ticks.state()).cleanups, 1)
})

test('a reload ends the old version\'s streams with an error and their cleanups', async (t) => {
  const { host, plugins } = await ticksHost(t)
  const it = await orpc(host).ticks.forever()
  assert.equal((await it.next()).value.n, 1)
  writeFileSync(join(plugins, 'ticks.lua'), readFileSync(join(plugins, 'ticks.lua'), 'utf8') + '\n-- v2\n')
  await host.waitForLog(/\[plugin\] ticks: loaded \(generation 2\)/)
  const err = await rejectionOf((async () => { for (;;) if ((await it.next()).done) return })())
  assert.ok(err instanceof ORPCError, `expected an ORPCError, got ${err}`)
  assert.match(err.message, /this version of the plugin was replaced or unloaded/)
  await host.waitForLog(/\[ticks\] forever: cleanup ran \(1\)/)
})

/** Polls ticks:state until emitted stays the same for `calm` polls in a row. */
async function settledCount(client, calm = 20) {
  let last = -1
  let same = 0
  for (let i = 0; i < 2000 && same < calm; i++) {
    const { emitted } = await client.ticks.state()
    same = emitted === last ? same + 1 : 0
    last = emitted
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  assert.equal(same, calm, 'the producer stopped')
  return last
}

function rssKiB(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1])
}

test('a reader that stops reading holds back its own producer only, in bounded memory', { timeout: 60000 }, async (t) => {
  const { host } = await ticksHost(t)
  const client = orpc(host)
  const body = JSON.stringify({ json: 1000 })
  const sock = net.connect(host.port, '127.0.0.1')
  t.after(() => sock.destroy())
  const head = new Promise((resolve) => sock.once('data', resolve))
  sock.write(`POST /rpc/ticks/forever HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${E2E_TOKEN}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
  assert.match(String(await head), /^HTTP\/1.1 200 OK\r\n[\s\S]*content-type: text\/event-stream/i)
  sock.pause() // reads nothing more: the kernel's buffers fill, then the host's queue
  const rssBefore = rssKiB(host.child.pid)
  const stalled = await settledCount(client) // other calls are served meanwhile
  const rssAfter = rssKiB(host.child.pid)
  // ~1 KiB per chunk: what the socket buffers took plus the 64 KiB queue.
  assert.ok(stalled > 64, `the producer ran before it stopped (${stalled})`)
  assert.ok(stalled < 64 * 1024, `the producer stopped within bounds (${stalled} chunks)`)
  // The count is the bound that matters; RSS is a coarse check (sanitizer
  // builds keep freed memory in quarantine: tens of MiB there).
  assert.ok(rssAfter - rssBefore < 128 * 1024, `RSS grew ${rssAfter - rssBefore} KiB`)
  console.log(`[streams] a stalled reader stopped its producer after ${stalled} chunks of ~1 KiB; ` +
    `host RSS ${rssBefore} -> ${rssAfter} KiB`)
  // Another stream runs meanwhile.
  const other = []
  for await (const v of await client.ticks.count(5)) other.push(v)
  assert.deepEqual(other, [1, 2, 3, 4, 5])
  // Reading again lets the producer go on; leaving cancels it.
  sock.resume()
  for (let i = 0; i < 2000 && (await client.ticks.state()).emitted <= stalled; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  assert.ok((await client.ticks.state()).emitted > stalled, 'the producer went on once the reader read')
  sock.destroy()
  await host.waitForLog(/\[ticks\] forever: cleanup ran \(1\)/)
})

test('an idle stream sends the initial comment and keep-alive comments (http.sse_keepalive_ms)', async (t) => {
  const { host } = await ticksHost(t, { '50-sse.lua': 'return { http = { sse_keepalive_ms = 50 } }' })
  const res = await fetch(`http://127.0.0.1:${host.port}/rpc/ticks/idle`, {
    method: 'POST',
    headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json' },
    body: '{}',
  })
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('content-type'), 'text/event-stream')
  assert.equal(res.headers.get('cache-control'), 'no-cache')
  const text = await res.text()
  assert.ok(text.startsWith(': \n\n'), JSON.stringify(text))
  assert.ok(text.endsWith('event: done\ndata: {"json":"woke"}\n\n'), JSON.stringify(text))
  const comments = text.split(': \n\n').length - 1
  assert.ok(comments >= 3, `the initial comment and keep-alives while idle 300 ms: ${JSON.stringify(text)}`)
  // A query stream answers GET ?data= too, with CORS for an allowed origin.
  const get = await fetch(`http://127.0.0.1:${host.port}/rpc/ticks/typed?data=${encodeURIComponent('{}')}`, {
    headers: { authorization: `Bearer ${E2E_TOKEN}`, origin: 'http://localhost:5173' },
  })
  assert.equal(get.headers.get('content-type'), 'text/event-stream')
  assert.equal(get.headers.get('access-control-allow-origin'), 'http://localhost:5173')
  const events = (await get.text()).split('\n\n')
  assert.equal(events[0], ': ')
  assert.match(events[1], /^event: message\ndata: \{"json":\{.*"at":"2024-02-29T12:34:56.789Z"/)
})

test('emit refuses what it cannot send, with errors the producer can catch', async (t) => {
  const { host } = await ticksHost(t)
  const got = []
  for await (const v of await orpc(host).ticks.misuse()) got.push(v)
  assert.equal(got.length, 6)
  assert.match(got[0], /emit: id must not hold a line break or a NUL/)
  assert.match(got[1], /emit: id must be a string or an integer, got number/)
  assert.match(got[2], /emit: retry must be an integer >= 0/)
  assert.match(got[3], /emit: cannot send the chunk: /)
  assert.match(got[4], /emit: not allowed in this context/)
  assert.equal(got[5], 1)
})

test('a WebSocket caller of a stream gets bad_request naming the HTTP way, and the handler never runs', async (t) => {
  const { host } = await ticksHost(t)
  const c = await host.connect()
  const err = await rejectionOf(c.rpc['ticks:forever']())
  assert.match(err.message, /ticks:forever is a stream: read it over HTTP, as an oRPC event iterator/)
  assert.equal(err.code, 'bad_request')
  assert.deepEqual(await c.rpc['ticks:state'](), { emitted: 0, cleanups: 0 })
  // moonhost:functions marks streams, so a client can tell before it calls.
  const fns = await c.rpc['moonhost:functions']()
  assert.deepEqual(fns.find((f) => f.name === 'ticks:forever'),
    { name: 'ticks:forever', type: 'action', cached: false, plugin: 'ticks', stream: true })
  assert.equal(fns.find((f) => f.name === 'ticks:state').stream, undefined)
})

test('a stream definition with cache, or of type static or event, fails the plugin\'s setup', async (t) => {
  const bad = (extra) => `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'bad', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'bad:s', stream = true, ${extra}
    handler = function() return moonhost.stream(function(emit) end) end })
end }`
  const plain = `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'plain', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'plain:s', type = 'action',
    handler = function() return moonhost.stream(function(emit) emit(1) end) end })
end }`
  for (const [extra, why] of [
    ['cache = { ttl = 1 },', /a stream is never cached/],
    ["type = 'static',", /a stream is a 'query' or an 'action' \(got 'static'\)/],
    ['stream2 = 1,', /unknown key/],
  ]) {
    const plugins = tempTree(t, { 'bad.lua': bad(extra) })
    const host = await hostFor(t, { plugins })
    await host.waitForLog(/\[plugin\] bad: load failed/)
    assert.match(host.log, why)
  }
  const plugins = tempTree(t, { 'plain.lua': plain })
  const host = await hostFor(t, { plugins })
  await host.waitForLog(/\[plugin\] plain: loaded/)
  const err = await rejectionOf(orpc(host).plain.s())
  assert.ok(err instanceof ORPCError)
  assert.match(err.message, /moonhost.stream: only in a function defined with stream = true/)
})

test('docs/plugins.md: the build stream reads over HTTP as the guide says', async (t) => {
  const host = await buildHost(t)
  const client = orpc(host)
  const steps = []
  for await (const p of await client.build.run(3)) steps.push(p)
  assert.deepEqual(steps, [{ step: 1, of: 3 }, { step: 2, of: 3 }, { step: 3, of: 3 }])
  const resumed = []
  for await (const p of await client.build.run(3, { lastEventId: '2' })) resumed.push(p.step)
  assert.deepEqual(resumed, [3])
  // Any case of the header name; an id too long to keep is refused, not ignored.
  const raw = (id) => fetch(`http://127.0.0.1:${host.port}/rpc/build/run`, {
    method: 'POST', body: '{"json":3}', headers: { authorization: `Bearer ${E2E_TOKEN}`, 'Last-Event-ID': id },
  })
  assert.match(await (await raw('2')).text(), /^: \n\nevent: message\nid: 3\n/)
  const long = await raw('9'.repeat(1024))
  assert.equal(long.status, 400)
  assert.match((await long.json()).json.message, /Last-Event-ID is longer than 1023 bytes/)
  const err = await rejectionOf((async () => { for await (const p of await client.build.run(0)) steps.push(p) })())
  assert.ok(err instanceof ORPCError)
  assert.equal(err.code, 'BAD_REQUEST')
  assert.equal(err.message, 'nothing to build')
})

test('shutting down with a stream open ends it with its cleanup, and the host exits cleanly', async (t) => {
  const { host } = await ticksHost(t)
  const it = await orpc(host).ticks.forever()
  assert.equal((await it.next()).value.n, 1)
  const ended = (async () => { for (;;) if ((await it.next()).done) return 'done' })().catch((e) => e)
  const result = await host.stop() // SIGTERM; throws on a bad exit or a sanitizer report
  assert.equal(result.code, 0)
  assert.match(host.log, /\[ticks\] forever: cleanup ran \(1\)/)
  const end = await ended
  assert.ok(end === 'done' || end instanceof Error, `the reader's iterator ended (${end})`)
})

test('moonhost types: a stream is an async iterator of its chunks for oRPC, and not in the WebSocket map', async (t) => {
  const plugins = tempTree(t, { 'ticks.lua': TICKS.replace("name = 'ticks:count', type = 'action', stream = true, args = { 'integer' },",
    "name = 'ticks:count', type = 'action', stream = true, args = { 'integer' }, returns = 'integer',") })
  const r = await runMoonhost(['types', '--plugins', plugins])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /count: \(input: number\) => Promise<AsyncIterableIterator<number>>/)
  assert.match(r.stdout, /'ticks:state': /)
  assert.doesNotMatch(r.stdout, /'ticks:count'/)
})

test('50 concurrent streams each get their own chunks, in order', async (t) => {
  const { host } = await ticksHost(t)
  const client = orpc(host)
  const read = async (n) => {
    const got = []
    for await (const v of await client.ticks.count(n)) got.push(v)
    return got
  }
  const sizes = Array.from({ length: 50 }, (_, i) => 100 + i * 37)
  const results = await Promise.all(sizes.map(read))
  results.forEach((got, i) => assert.deepEqual(got, Array.from({ length: sizes[i] }, (_, k) => k + 1)))
})
