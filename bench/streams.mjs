// Streams against calls, in one run of one host (so the ratios hold on a busy machine):
// chunks per second through one stream vs calls per second, over the WebSocket (the moonhost
// client) and over HTTP (@orpc/client), and the host's memory per open stream.
//   node bench/streams.mjs [CHUNKS=100000] [OPEN=1000]   (uses build/moonhost, or MOONHOST_BIN)
// Paste its lines into the `streams` section of results.md.
import { startHost, writeTree, E2E_TOKEN } from '../tests/e2e/lib/host.mjs'
import { servedClient } from '../tests/e2e/lib/util.mjs'
import WebSocket from '../tests/e2e/node_modules/ws/wrapper.mjs'
import { createORPCClient } from '../tests/e2e/node_modules/@orpc/client/dist/index.mjs'
import { RPCLink } from '../tests/e2e/node_modules/@orpc/client/dist/adapters/fetch/index.mjs'
import { readFileSync } from 'node:fs'

const chunks = Number(process.argv[2] || 100000)
const open = Number(process.argv[3] || 1000)
const calls = Math.max(1000, Math.round(chunks / 10))

const plugin = `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'sb', setup = function(ctx)
  local function fn(def) ctx.rpc.register(moonhost.define_rpc_function(def)) end
  fn { name = 'sb:call', type = 'action', handler = function(i) return i end }
  fn { name = 'sb:chunks', type = 'action', stream = true, args = { 'integer' },
    handler = function(n) return moonhost.stream(function(emit) for i = 1, n do emit(i) end return n end) end }
  fn { name = 'sb:idle', type = 'action', stream = true,
    handler = function() return moonhost.stream(function(emit) emit(0) moonhost.sleep(3600) end) end }
end }
`
const perClient = 250 // under limits.max_inflight_per_client (256): each open stream holds one
// The e2e fixtures' conf.d: its token, default limits.
const host = await startHost({ plugins: writeTree({ 'sb.lua': plugin }), logLevel: 'info' })
const { connect } = await servedClient(host)
const rpc = connect({ url: host.url, token: E2E_TOKEN, WebSocket })
await rpc.ready
const orpc = createORPCClient(new RPCLink({
  url: `http://127.0.0.1:${host.port}/rpc`, headers: { authorization: `Bearer ${E2E_TOKEN}` },
}))

async function rate(n, fn) {
  const t0 = performance.now()
  await fn()
  return n / ((performance.now() - t0) / 1000)
}

async function streamRate(it) {
  let got = 0
  for await (const v of it) if (v !== ++got) throw new Error(`chunk ${got} was ${v}`)
  if (got !== chunks) throw new Error(`got ${got} chunks, expected ${chunks}`)
}

const rows = []
// Warm-up: plugin, JIT, sockets.
for (let i = 0; i < 200; i++) await rpc.call('sb:call', i)
await streamRate(rpc.stream('sb:chunks', chunks))

const wsCall1 = await rate(calls, async () => { for (let i = 0; i < calls; i++) await rpc.call('sb:call', i) })
const wsCall16 = await rate(calls, async () => {
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => { while (next < calls) await rpc.call('sb:call', next++) }))
})
const ws16 = await rate(chunks, () => streamRate(rpc.stream('sb:chunks', chunks)))
const ws256 = await rate(chunks, () => streamRate(rpc.streamWith({ window: 256 }, 'sb:chunks', chunks)))
const httpCalls = Math.round(calls / 5)
const httpCall1 = await rate(httpCalls, async () => { for (let i = 0; i < httpCalls; i++) await orpc.sb.call(i) })
const httpStream = await rate(chunks, async () => streamRate(await orpc.sb.chunks(chunks)))

const f = (x) => Math.round(x).toLocaleString('en-US')
rows.push(`| WebSocket, moonhost client | calls/s, 1 in flight | ${f(wsCall1)} | 1.0 |`)
rows.push(`| | calls/s, 16 in flight | ${f(wsCall16)} | ${(wsCall16 / wsCall1).toFixed(1)} |`)
rows.push(`| | chunks/s through one stream (window 16) | ${f(ws16)} | ${(ws16 / wsCall1).toFixed(1)} |`)
rows.push(`| | chunks/s through one stream (window 256) | ${f(ws256)} | ${(ws256 / wsCall1).toFixed(1)} |`)
rows.push(`| HTTP, @orpc/client | calls/s, 1 in flight | ${f(httpCall1)} | 1.0 |`)
rows.push(`| | chunks/s through one stream (SSE) | ${f(httpStream)} | ${(httpStream / httpCall1).toFixed(1)} |`)

// Memory: `open` streams, each with its first chunk read and its producer asleep.
const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${host.child.pid}/status`, 'utf8'))[1])
const clients = []
for (let i = 0; i < Math.ceil(open / perClient); i++) {
  const c = connect({ url: host.url, token: E2E_TOKEN, WebSocket })
  await c.ready
  await c.call('sb:call', 0)
  clients.push(c)
}
const before = rssKiB()
const its = []
for (let i = 0; i < open; i++) {
  const it = clients[Math.floor(i / perClient)].stream('sb:idle')
  its.push(it)
}
await Promise.all(its.map((it) => it.next()))
const after = rssKiB()
rows.push(`| WebSocket | host RSS per open stream (${open} open, producer asleep) | ${((after - before) * 1024 / open / 1024).toFixed(1)} KiB | |`)
await Promise.all(its.map((it) => it.return()))
for (const c of clients) await c.close()
await rpc.close()
await host.stop()

console.log(`${chunks} chunks per stream, ${calls} WebSocket calls, ${httpCalls} HTTP calls; ratios against calls/s ` +
  'with one call in flight on the same transport, same host, same run')
console.log('\n| transport | what | per second / size | ratio |\n|---|---|---|---|')
for (const r of rows) console.log(r)
