// Operating moonhost (README "Operating moonhost"): GET /metrics in the
// Prometheus text format, checked by Prometheus' own parser (promtool), its
// values after real calls over WebSocket and HTTP; /healthz and /readyz.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import WebSocket from 'ws'
import { createORPCClient } from '@orpc/client'
import { RPCLink } from '@orpc/client/fetch'
import { Host, moonhostBin, runMoonhost, startHost, writeTree, E2E_TOKEN } from './lib/host.mjs'

const METRICS_TOKEN = 'scrape-only-token'
const ODD = 'ops:odd "quoted" \\ back\nslash'

const plugin = `
local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'ops',
  setup = function(ctx)
    local held, released = 0, false
    ctx.rpc.register(moonhost.define_rpc_function { name = 'ops:hello', type = 'query', cache = true,
      handler = function(who) return 'hello ' .. tostring(who) end })
    ctx.rpc.register(moonhost.define_rpc_function { name = 'ops:fail', type = 'action',
      handler = function() error('on purpose') end })
    ctx.rpc.register(moonhost.define_rpc_function { name = ${JSON.stringify(ODD)}, type = 'action',
      handler = function() return 1 end })
    ctx.rpc.register(moonhost.define_rpc_function { name = 'ops:ticks', type = 'action', stream = true,
      handler = function(n)
        return moonhost.stream(function(emit) for i = 1, n do emit(i) end end)
      end })
    ctx.rpc.register(moonhost.define_rpc_function { name = 'ops:shout', type = 'action',
      handler = function(msg) ctx.rpc.broadcast('ops:heard', msg); return true end })
    -- Holds until ops:release: a call in flight, for inflight_calls and drain.
    ctx.rpc.register(moonhost.define_rpc_function { name = 'ops:hold', type = 'action',
      handler = function()
        held = held + 1
        ctx.log.info('holding a call')
        while not released do moonhost.sleep(0.005) end
        return 'released'
      end })
    ctx.rpc.register(moonhost.define_rpc_function { name = 'ops:release', type = 'action',
      handler = function() released = true; return held end })
  end,
}
`

function setup(t, extraConf = '') {
  const dir = writeTree({
    'plugins/ops.lua': plugin,
    'conf.d/00-test.lua': `return { auth = { tokens = { '${E2E_TOKEN}' }, generate_token = false },
      metrics = { token = '${METRICS_TOKEN}' } ${extraConf} }`,
  })
  return startHost({ plugins: join(dir, 'plugins'), config: join(dir, 'conf.d') }).then((host) => {
    t.after(() => host.stop())
    host.dir = dir
    return host
  })
}

async function get(host, path, headers = {}, method = 'GET') {
  const res = await fetch(`http://127.0.0.1:${host.port}${path}`, { method, headers })
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() }
}

const bearer = (token) => ({ authorization: `Bearer ${token}` })

// promtool reads the text with Prometheus' parser and lints it (names,
// types, HELP); any problem fails the test with its report.
function promtoolCheck(text) {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  assert.equal(r.error, undefined, 'promtool must be installed (apt-get install prometheus; setup.sh --tests)')
  assert.equal(r.status, 0, `promtool check metrics failed:\n${r.stdout}${r.stderr}\n--- input ---\n${text}`)
}

// Label values unescaped as the format defines (\\, \", \n).
function unescape(v) {
  return v.replace(/\\(["\\n])/g, (_, c) => (c === 'n' ? '\n' : c))
}

/** Scrapes /metrics, validates it with promtool, and returns a lookup
 * (name, labels) -> value, undefined when the series is absent. */
async function scrape(host, token = E2E_TOKEN) {
  const r = await get(host, '/metrics', bearer(token))
  assert.equal(r.status, 200, r.body)
  assert.equal(r.type, 'text/plain; version=0.0.4; charset=utf-8')
  promtoolCheck(r.body)
  const samples = []
  for (const line of r.body.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.ok(m, `a sample line: ${JSON.stringify(line)}`)
    const labels = {}
    for (const l of (m[2] || '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = unescape(l[2])
    samples.push({ name: m[1], labels, value: Number(m[3]) })
  }
  const value = (name, labels = {}) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
  return { text: r.body, value }
}

test('/metrics answers trusted requests and metrics.token only; the scrape token calls nothing', async (t) => {
  const host = await setup(t)
  const none = await get(host, '/metrics')
  assert.equal(none.status, 401)
  assert.match(none.body, /no token/)
  assert.equal((await get(host, '/metrics', bearer('wrong'))).status, 401)
  assert.equal((await get(host, `/metrics?token=${METRICS_TOKEN}`)).status, 401, 'metrics.token goes in a header only')
  await host.waitForLog(/GET \/metrics refused: token presented and refused/)
  assert.equal((await get(host, '/metrics', bearer(METRICS_TOKEN))).status, 200)
  assert.equal((await get(host, `/metrics?token=${E2E_TOKEN}`)).status, 200)
  const call = await fetch(`http://127.0.0.1:${host.port}/rpc/ops/hello`, {
    method: 'POST',
    headers: { ...bearer(METRICS_TOKEN), 'content-type': 'application/json' },
    body: JSON.stringify({ json: 'x' }),
  })
  assert.equal(call.status, 401, 'metrics.token is not a host token')
  // Nor does it trust a WebSocket client (URL or handshake), a reload or an MCP request.
  const ws = await host.connect({}, {}, { token: METRICS_TOKEN })
  await assert.rejects(ws.rpc['ops:hello']('x'), (e) => e.code === 'unauthorized')
  assert.deepEqual(await ws.rpc['anonymous:devframe:auth']({ authToken: METRICS_TOKEN }), { isTrusted: false })
  ws.close()
  for (const path of ['/__moonhost/reload', '/__mcp']) {
    const r = await fetch(`http://127.0.0.1:${host.port}${path}`, {
      method: 'POST', headers: { ...bearer(METRICS_TOKEN), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    })
    assert.equal(r.status, 401, path)
  }
  const m = await scrape(host, METRICS_TOKEN)
  assert.equal(m.value('moonhost_build_info', {}), 1)
  const printed = await runMoonhost(['config', '--config', join(host.dir, 'conf.d')])
  assert.equal(printed.code, 0, printed.stderr)
  assert.equal(JSON.parse(printed.stdout).metrics.token, '<hidden>', '`moonhost config` hides metrics.token')
  assert.ok(m.value('moonhost_calls_total', { function: 'ops:hello', type: 'query', outcome: 'ok' }) === 0,
    'a registered function has its series before its first call')
})

test('calls, cache, errors, unknown names, durations, bytes and broadcasts count as they happen', async (t) => {
  const host = await setup(t)
  const before = await scrape(host)
  const c = await host.connect()
  assert.equal(await c.rpc['ops:hello']('ws'), 'hello ws')
  assert.equal(await c.rpc['ops:hello']('ws'), 'hello ws') // from the cache
  await assert.rejects(c.rpc['ops:fail'](), { message: /on purpose/ })
  await assert.rejects(c.rpc['no:such'](), { message: /not found/ })
  assert.equal(await c.rpc[ODD](), 1)
  const heard = new Promise((res) => c.ws.on('message', (d) => String(d).includes('ops:heard') && res()))
  assert.equal(await c.rpc['ops:shout']('hey'), true)
  await heard
  const http = await fetch(`http://127.0.0.1:${host.port}/rpc/ops/hello`, {
    method: 'POST',
    headers: { ...bearer(E2E_TOKEN), 'content-type': 'application/json' },
    body: JSON.stringify({ json: 'http' }),
  })
  assert.equal(http.status, 200)
  // a stream read as an oRPC event iterator: one call, counted when it ends
  const orpc = createORPCClient(new RPCLink({ url: `http://127.0.0.1:${host.port}/rpc`,
    headers: { authorization: `Bearer ${E2E_TOKEN}` } }))
  const ticks = []
  for await (const v of await orpc.ops.ticks(3)) ticks.push(v)
  assert.deepEqual(ticks, [1, 2, 3])

  const m = await scrape(host)
  const hello = { function: 'ops:hello', type: 'query' }
  assert.equal(m.value('moonhost_calls_total', { ...hello, outcome: 'ok' }), 3)
  assert.equal(m.value('moonhost_calls_total', { ...hello, outcome: 'error' }), 0)
  assert.equal(m.value('moonhost_cache_hits_total', { function: 'ops:hello' }), 1)
  assert.equal(m.value('moonhost_cache_misses_total', { function: 'ops:hello' }), 2)
  assert.equal(m.value('moonhost_calls_total', { function: 'ops:fail', type: 'action', outcome: 'error' }), 1)
  assert.equal(m.value('moonhost_calls_total', { function: 'ops:ticks', type: 'action', outcome: 'ok' }), 1)
  assert.equal(m.value('moonhost_call_duration_seconds_count', { function: 'ops:ticks' }), 1)
  assert.equal(m.value('moonhost_calls_total', { function: '(unknown)', outcome: 'error' }), 1)
  assert.equal(m.value('moonhost_calls_total', { function: 'no:such' }), undefined, 'an unknown name makes no series')
  assert.equal(m.value('moonhost_calls_total', { function: ODD, outcome: 'ok' }), 1, 'the odd name, unescaped, is one series')
  assert.ok(m.text.includes('function="ops:odd \\"quoted\\" \\\\ back\\nslash"'), 'escaped as the format says')
  assert.equal(m.value('moonhost_call_duration_seconds_count', { function: 'ops:hello' }), 3)
  assert.equal(m.value('moonhost_call_duration_seconds_bucket', { function: 'ops:hello', le: '+Inf' }), 3)
  assert.equal(m.value('moonhost_call_duration_seconds_bucket', { function: 'ops:hello', le: '10' }), 3, m.text.split('\n').filter((l) => l.includes('duration_seconds_bucket{function="ops:hello"')).join('\n'))
  assert.ok(m.value('moonhost_call_duration_seconds_sum', { function: 'ops:hello' }) > 0)
  assert.equal(m.value('moonhost_broadcasts_total') - before.value('moonhost_broadcasts_total'), 1)
  assert.ok(m.value('moonhost_bytes_received_total') > before.value('moonhost_bytes_received_total'))
  assert.ok(m.value('moonhost_bytes_sent_total') > before.value('moonhost_bytes_sent_total'))
  assert.equal(m.value('moonhost_connections', { transport: 'ws', trusted: 'true' }), 1)
  assert.equal(m.value('moonhost_connections_accepted_total'), 1)
  assert.equal(m.value('moonhost_inflight_calls'), 0)
})

test('refused upgrades, close codes, calls in flight, reloads and plugin errors show', async (t) => {
  const host = await setup(t)
  // a page from another site: refused at the upgrade
  const status = await new Promise((res, rej) => {
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/__ws`, { headers: { Origin: 'http://evil.example' } })
    ws.on('unexpected-response', (req, r) => res(r.statusCode))
    ws.on('open', () => rej(new Error('upgraded')))
    ws.on('error', () => {})
  })
  assert.equal(status, 403)
  // a binary frame: closed with 1003
  const raw = await host.connect()
  raw.ws.send(Buffer.from('x'), { binary: true })
  assert.equal((await raw.closed).code, 1003)
  const c = await host.connect()
  const hold = c.rpc['ops:hold']()
  await host.waitForLog(/holding a call/)
  let m = await scrape(host)
  assert.equal(m.value('moonhost_connections_refused_total', { reason: 'origin' }), 1)
  assert.equal(m.value('moonhost_connections_refused_total', { reason: 'host' }), 0)
  assert.equal(m.value('moonhost_close_total', { code: '1003' }), 1)
  assert.equal(m.value('moonhost_inflight_calls'), 1)
  assert.equal(m.value('moonhost_plugin_generation', { plugin: 'ops' }), 1)
  assert.ok(m.value('moonhost_lua_memory_bytes', { plugin: 'ops' }) > 0)
  assert.equal(await c.rpc['ops:release'](), 1)
  assert.equal(await hold, 'released')

  const reload = await get(host, '/__moonhost/reload?plugin=ops', bearer(E2E_TOKEN), 'POST')
  assert.equal(reload.status, 200, reload.body)
  m = await scrape(host)
  assert.equal(m.value('moonhost_plugin_generation', { plugin: 'ops' }), 2)
  assert.equal(m.value('moonhost_plugin_load_errors_total', { plugin: 'ops' }), 0)
  assert.equal(m.value('moonhost_calls_total', { function: 'ops:hold', type: 'action', outcome: 'ok' }), 1,
    'counts survive a reload')
  assert.equal(m.value('moonhost_inflight_calls'), 0)

  // The watcher reloads the broken file (once or more per write): each
  // failed load is one log line and one count.
  writeFileSync(join(host.dir, 'plugins/ops.lua'), 'return 1 +')
  await host.waitForLog(/ops: load failed/)
  const failures = () => (host.log.match(/ops: load failed/g) || []).length
  const logged = failures()
  m = await scrape(host)
  const counted = m.value('moonhost_plugin_load_errors_total', { plugin: 'ops' })
  assert.ok(counted >= logged && counted <= failures(), `${counted} failed loads counted, ${logged} logged`)
  assert.equal(m.value('moonhost_plugin_generation', { plugin: 'ops' }), 2, 'the previous generation serves')
})

test('/healthz and /readyz answer without a token; readyz is 503 while draining', async (t) => {
  const host = await setup(t)
  const health = await get(host, '/healthz')
  assert.equal(health.status, 200)
  assert.deepEqual(JSON.parse(health.body), { status: 'ok', checks: { event_loop: 'answering' } })
  const ready = await get(host, '/readyz')
  assert.equal(ready.status, 200)
  assert.deepEqual(JSON.parse(ready.body), { status: 'ready', checks: { plugins_loaded: true, draining: false } })
  // A call in flight keeps the host draining (up to its grace period).
  const c = await host.connect()
  const hold = c.rpc['ops:hold']()
  await host.waitForLog(/holding a call/)
  host.child.kill('SIGTERM')
  await host.waitForLog(/shutting down/)
  const draining = await get(host, '/readyz')
  assert.equal(draining.status, 503)
  assert.deepEqual(JSON.parse(draining.body), { status: 'not ready', checks: { plugins_loaded: true, draining: true } })
  assert.equal((await get(host, '/healthz')).status, 200, 'alive while draining')
  assert.equal(await c.rpc['ops:release'](), 1)
  assert.equal(await hold, 'released')
})

test('/readyz is 503 while the plugins found at start load; calls and upgrades wait for them', async (t) => {
  // Its setup waits for a file the test creates: the load is under way until then.
  const dir = writeTree({
    'plugins/late.lua': `
local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'late',
  setup = function(ctx)
    ctx.log.info('late: waiting for the go file')
    while not io.open(ctx.root .. '/go') do moonhost.sleep(0.01) end
    ctx.rpc.register(moonhost.define_rpc_function { name = 'late:hi', type = 'query',
      handler = function() return 'hi' end })
  end,
}`,
    'conf.d/00-test.lua': `return { auth = { tokens = { '${E2E_TOKEN}' }, generate_token = false } }`,
  })
  const child = spawn(moonhostBin, ['run', '--listen', '127.0.0.1:0', '--log-level', 'debug', '--root', dir,
    '--plugins', join(dir, 'plugins'), '--config', join(dir, 'conf.d')])
  const host = new Host(child)
  host.ready.catch(() => {})
  t.after(() => host.stop())
  const bound = await host.waitForLog(/bound \S+ port (\d+); loading plugins/)
  const early = { port: Number(bound[1]) } // host.port is set by the "listening on" line
  await host.waitForLog(/late: waiting for the go file/)

  const starting = await get(early, '/readyz')
  assert.equal(starting.status, 503)
  assert.deepEqual(JSON.parse(starting.body), { status: 'not ready', checks: { plugins_loaded: false, draining: false } })
  assert.equal((await get(early, '/healthz')).status, 200)
  const call = await get(early, '/rpc/late/hi', bearer(E2E_TOKEN))
  assert.equal(call.status, 503, call.body)
  assert.match(call.body, /plugins are loading/)
  const upgrade = await new Promise((res, rej) => {
    const ws = new WebSocket(`ws://127.0.0.1:${early.port}/__ws?token=${E2E_TOKEN}`)
    ws.on('unexpected-response', (req, r) => res(r.statusCode))
    ws.on('open', () => rej(new Error('upgraded while loading')))
    ws.on('error', () => {})
  })
  assert.equal(upgrade, 503)
  assert.doesNotMatch(host.log, /listening on/, 'announced only once the plugins are loaded')

  writeFileSync(join(dir, 'go'), '')
  await host.ready
  assert.equal(host.port, early.port)
  assert.equal((await get(host, '/readyz')).status, 200)
  const c = await host.connect()
  assert.equal(await c.rpc['late:hi'](), 'hi')
  const m = await scrape(host)
  assert.equal(m.value('moonhost_connections_refused_total', { reason: 'starting' }), 1)
})
