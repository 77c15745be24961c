// MCP for AI agents (README "Operating moonhost", docs/plugins.md
// "Functions for AI agents"): functions defined with `agent = {...}` are
// tools at /__mcp, driven here by the real @modelcontextprotocol/sdk client
// over its Streamable HTTP transport, and by raw HTTP for what a client
// library never sends.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { LATEST_PROTOCOL_VERSION, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv'
import { startHost, writeTree, E2E_TOKEN } from './lib/host.mjs'
import { readmeSection } from './lib/readme.mjs'

const plugin = (extra = '') => `
local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'tools',
  types = { Point = { x = 'number', y = 'number', ['label?'] = 'string' } },
  setup = function(ctx)
    ctx.rpc.register(moonhost.define_rpc_function { name = 'tools:add', type = 'query',
      args = { 'number', 'number' },
      agent = { description = 'Adds two numbers and answers the sum.' },
      handler = function(a, b) return a + b end })
    ctx.rpc.register(moonhost.define_rpc_function { name = 'tools:describe_point', type = 'query',
      args = { 'Point', 'string?' },
      agent = { description = 'Describes a point.', title = 'Describe a point', tags = { 'geometry' } },
      handler = function(p, unit)
        return { label = p.label or 'unnamed', norm = math.sqrt(p.x * p.x + p.y * p.y), unit = unit or 'px' }
      end })
    ctx.rpc.register(moonhost.define_rpc_function { name = 'tools:explode', type = 'action',
      agent = { description = 'Always fails.', safety = 'destructive' }, args = {},
      handler = function() error('boom on purpose') end })
    ctx.rpc.register(moonhost.define_rpc_function { name = 'tools:echo', type = 'action',
      agent = { description = 'Answers its arguments as a list.' },
      handler = function(...) return moonhost.array({ ... }) end })
    ctx.rpc.register(moonhost.define_rpc_function { name = 'tools:hidden', type = 'query',
      handler = function() return 'not for agents' end })
    ${extra}
  end,
}
`

async function setup(t, plugins = { 'tools.lua': plugin() }, extraConf = '') {
  const dir = writeTree({
    ...Object.fromEntries(Object.entries(plugins).map(([name, code]) => [`plugins/${name}`, code])),
    'conf.d/00-test.lua': `return { auth = { tokens = { '${E2E_TOKEN}' }, generate_token = false },
      limits = { max_message_bytes = 65536 } ${extraConf} }`,
  })
  const host = await startHost({ plugins: join(dir, 'plugins'), config: join(dir, 'conf.d') })
  t.after(() => host.stop())
  host.dir = dir
  host.mcpUrl = `http://127.0.0.1:${host.port}/__mcp`
  return host
}

async function connect(t, host, token = E2E_TOKEN) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {}
  const transport = new StreamableHTTPClientTransport(new URL(host.mcpUrl), { requestInit: { headers } })
  const client = new Client({ name: 'moonhost-e2e', version: '1.0.0' })
  await client.connect(transport)
  t.after(() => client.close())
  return { client, transport }
}

const byName = (tools) => Object.fromEntries(tools.map((tool) => [tool.name, tool]))

test('tools/list: the agent functions only, with their descriptions and a JSON Schema of their args', async (t) => {
  const host = await setup(t)
  const { client } = await connect(t, host)
  assert.equal(client.getServerVersion().name, 'moonhost')
  assert.ok(client.getServerCapabilities().tools, 'the tools capability')
  const { tools } = await client.listTools()
  const tool = byName(tools)
  assert.deepEqual(Object.keys(tool), ['tools__add', 'tools__describe_point', 'tools__echo', 'tools__explode'],
    "a ':' is '__'; tools:hidden has no agent option, so it is not offered")
  assert.equal(tool.tools__add.description, 'Adds two numbers and answers the sum.')
  assert.deepEqual(tool.tools__add.inputSchema, {
    type: 'object',
    properties: { arg0: { type: 'number', title: 'a' }, arg1: { type: 'number', title: 'b' } },
    required: ['arg0', 'arg1'],
    additionalProperties: false,
  })
  assert.deepEqual(tool.tools__add.annotations, { readOnlyHint: true, destructiveHint: false })
  assert.equal(tool.tools__describe_point.title, 'Describe a point')
  assert.deepEqual(tool.tools__describe_point._meta, { 'moonhost/tags': ['geometry'] })
  assert.deepEqual(tool.tools__explode.annotations, { readOnlyHint: false, destructiveHint: true })
  assert.deepEqual(tool.tools__echo.inputSchema, { type: 'object' }, 'no args schema: any object')

  // The schemas are JSON Schema a validator compiles, and they say what the host checks.
  const schema = tool.tools__describe_point.inputSchema
  assert.deepEqual(schema.$defs.Point, {
    type: 'object',
    properties: { label: { anyOf: [{ type: 'string' }, { type: 'null' }] }, x: { type: 'number' }, y: { type: 'number' } },
    required: ['x', 'y'],
  })
  const validate = new AjvJsonSchemaValidator().getValidator(schema)
  assert.equal(validate({ arg0: { x: 3, y: 4 } }).valid, true)
  assert.equal(validate({ arg0: { x: 3, y: 4, label: 'p' }, arg1: 'cm' }).valid, true)
  assert.equal(validate({ arg0: { x: 'three', y: 4 } }).valid, false)
  assert.equal(validate({ arg1: 'cm' }).valid, false, 'arg0 is required')
  assert.equal(validate({ arg0: { x: 3, y: 4 }, other: 1 }).valid, false, 'no other keys')
})

test('tools/call: results as text and structuredContent; bad input and Lua errors are isError results', async (t) => {
  const host = await setup(t)
  const { client } = await connect(t, host)

  const sum = await client.callTool({ name: 'tools__add', arguments: { arg0: 2, arg1: 3 } })
  assert.deepEqual(sum.content, [{ type: 'text', text: '5' }])
  assert.equal(sum.isError, false)
  assert.equal(sum.structuredContent, undefined, 'a number is no object')

  const point = await client.callTool({ name: 'tools__describe_point', arguments: { arg0: { x: 3, y: 4, label: 'p' } } })
  assert.deepEqual(point.structuredContent, { label: 'p', norm: 5, unit: 'px' })
  assert.deepEqual(JSON.parse(point.content[0].text), point.structuredContent)

  const echo = await client.callTool({ name: 'tools__echo', arguments: { arg0: 'a', arg1: 2 } })
  assert.deepEqual(JSON.parse(echo.content[0].text), ['a', 2])
  const whole = await client.callTool({ name: 'tools__echo', arguments: { any: 'object' } })
  assert.deepEqual(JSON.parse(whole.content[0].text), [{ any: 'object' }], 'without a schema the object is the argument')

  const bad = await client.callTool({ name: 'tools__add', arguments: { arg0: 'two', arg1: 3 } })
  assert.equal(bad.isError, true)
  assert.match(bad.content[0].text, /argument 1: expected number, got string \(bad_request\)/)

  const extra = await client.callTool({ name: 'tools__add', arguments: { arg0: 1, arg1: 2, arg2: 3 } })
  assert.equal(extra.isError, true)
  assert.match(extra.content[0].text, /unknown argument "arg2": this tool takes arg0 to arg1/)

  const boom = await client.callTool({ name: 'tools__explode', arguments: {} })
  assert.equal(boom.isError, true)
  assert.match(boom.content[0].text, /boom on purpose/)

  // An unknown tool, or a function not offered to agents, is a protocol error.
  for (const name of ['tools__hidden', 'tools__nope', 'not a tool name']) {
    await assert.rejects(client.callTool({ name, arguments: {} }), (e) => e.code === -32602 && /unknown tool/.test(e.message))
  }
  assert.deepEqual(await client.ping(), {})
  await host.waitForLog(/\[plugin\] tools: tools:explode/)
})

test('no token or a wrong one: 401, nothing listed; the host keeps serving', async (t) => {
  const host = await setup(t)
  for (const token of [null, 'wrong-token']) {
    await assert.rejects(connect(t, host, token), (e) => e.code === 401, `token ${token}`)
  }
  const res = await fetch(host.mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  })
  assert.equal(res.status, 401)
  assert.match(res.headers.get('www-authenticate'), /^Bearer/)
  assert.equal((await res.json()).error.code, -32000)
  await host.waitForLog(/MCP request refused: no token/)
  await host.waitForLog(/MCP request refused: token presented and refused/)
  const { client, transport } = await connect(t, host)
  assert.equal((await client.listTools()).tools.length, 4)
  // A live session's id is no credential: without the token, every method is refused and the session lives on.
  const sid = { 'mcp-session-id': transport.sessionId }
  for (const [method, body] of [['POST', JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'tools__add', arguments: { a: 1, b: 2 } } })],
    ['GET', undefined], ['DELETE', undefined]]) {
    for (const auth of [{}, { authorization: 'Bearer wrong-token' }]) {
      const r = await fetch(host.mcpUrl, { method, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...sid, ...auth }, body })
      assert.equal(r.status, 401, `${method} ${JSON.stringify(auth)}`)
      await r.body?.cancel()
    }
  }
  assert.equal((await client.listTools()).tools.length, 4)
})

test('a hot reload changes the list, and the client is told on its event stream (notifications/tools/list_changed)', async (t) => {
  const host = await setup(t)
  const { client } = await connect(t, host)
  assert.equal(client.getServerCapabilities().tools.listChanged, true)
  const changed = new Promise((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, resolve))
  assert.equal((await client.listTools()).tools.length, 4)
  // The SDK opens the session's GET stream once initialized.
  await host.waitForLog(/GET \/__mcp: event stream open/)
  // A reload that changes nothing a tool shows tells nobody.
  writeFileSync(join(host.dir, 'plugins/tools.lua'), plugin('-- same tools'))
  await host.waitForLog(/tools: loaded \(generation 2\)/)
  await host.waitForLog(/the tool list is unchanged \(tools\): nobody told/)
  writeFileSync(join(host.dir, 'plugins/tools.lua'), plugin(`
    ctx.rpc.register(moonhost.define_rpc_function { name = 'tools:now-offered', type = 'query',
      agent = { description = 'Added by a reload.' }, handler = function() return 'new' end })`))
  await host.waitForLog(/tools: loaded \(generation 3\)/)
  await host.waitForLog(/the tool list changed \(tools\): 1 stream\(s\) told/)
  const note = await changed
  assert.equal(note.method, 'notifications/tools/list_changed')
  const tool = byName((await client.listTools()).tools)
  assert.equal(tool['tools__now-offered'].description, 'Added by a reload.')
  const r = await client.callTool({ name: 'tools__now-offered', arguments: {} })
  assert.equal(r.content[0].text, '"new"')
})

async function post(host, body, headers = {}) {
  const res = await fetch(host.mcpUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, text, json: text ? JSON.parse(text) : undefined }
}

/** A POST declaring a body over limits.max_message_bytes: answered before it is sent. */
async function oversize(host, headers) {
  const req = http.request({
    host: '127.0.0.1', port: host.port, method: 'POST', path: '/__mcp', agent: false,
    headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json', 'content-length': '70000', ...headers },
  })
  req.on('error', () => {}) // the host closes while we would still be sending
  req.write('{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + 'x'.repeat(1000))
  const res = await new Promise((resolve) => req.once('response', resolve))
  let text = ''
  for await (const chunk of res) text += chunk
  req.destroy()
  return { status: res.statusCode, json: JSON.parse(text) }
}

test('a client that opens sessions and never ends them: at most 256 live, the least recently used ends first', async (t) => {
  const host = await setup(t)
  const open = async () => {
    const r = await post(host, {
      jsonrpc: '2.0', id: 'i', method: 'initialize',
      params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'hoarder', version: '0' } },
    })
    assert.equal(r.status, 200)
    return r.headers.get('mcp-session-id')
  }
  const ping = (id) => post(host, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': id }).then((r) => r.status)
  const kept = await open()
  const others = []
  for (let i = 0; i < 400; i++) {
    others.push(await open())
    // Used every 50 sessions: never the least recently used one.
    if (i % 50 === 49) assert.equal(await ping(kept), 200)
  }
  assert.equal(await ping(kept), 200)
  const live = []
  for (const id of others) if ((await ping(id)) === 200) live.push(id)
  assert.equal(live.length + 1, 256, 'live sessions')
  // The ones ended are the oldest: the newest 255 are the live ones.
  assert.deepEqual(live, others.slice(-255))
})

test('sessions, protocol versions and hostile input: clear JSON-RPC errors, the host keeps serving', async (t) => {
  const host = await setup(t)
  const init = await post(host, {
    jsonrpc: '2.0', id: 'i', method: 'initialize',
    params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
  })
  assert.equal(init.status, 200)
  assert.equal(init.json.result.protocolVersion, LATEST_PROTOCOL_VERSION)
  const session = init.headers.get('mcp-session-id')
  assert.match(session, /^[0-9a-f]{32}$/)
  const old = await post(host, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2024-01-01' } })
  assert.equal(old.json.result.protocolVersion, LATEST_PROTOCOL_VERSION, 'an unknown version gets the newest')
  const s = { 'mcp-session-id': session }

  const cases = [
    ['malformed JSON', '{"jsonrpc": "2.0", "id": 1, "method": ', s, 400, -32700],
    ['a batch', [{ jsonrpc: '2.0', id: 1, method: 'ping' }], s, 400, -32600],
    ['not an object', '42', s, 400, -32600],
    ['no jsonrpc', { id: 1, method: 'ping' }, s, 400, -32600],
    ['an id that is an object', { jsonrpc: '2.0', id: {}, method: 'ping' }, s, 400, -32600],
    ['params not an object', { jsonrpc: '2.0', id: 1, method: 'ping', params: [1] }, s, 400, -32602],
    ['no session', { jsonrpc: '2.0', id: 1, method: 'ping' }, {}, 400, -32600],
    ['an unknown session', { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': 'f'.repeat(32) }, 404, -32000],
    ['a session id too long to be one', { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': session + 'f'.repeat(300) }, 404, -32000],
    ['an unsupported protocol version', { jsonrpc: '2.0', id: 1, method: 'ping' }, { ...s, 'mcp-protocol-version': '1999-01-01' }, 400, -32600],
    ['an unknown method', { jsonrpc: '2.0', id: 7, method: 'resources/list' }, s, 200, -32601],
    ['tools/call without a name', { jsonrpc: '2.0', id: 8, method: 'tools/call', params: {} }, s, 200, -32602],
  ]
  for (const [what, body, headers, status, code] of cases) {
    const r = await post(host, body, headers)
    assert.equal(r.status, status, `${what}: ${r.text}`)
    assert.equal(r.json.jsonrpc, '2.0', what)
    assert.equal(r.json.error.code, code, `${what}: ${r.text}`)
    assert.equal(typeof r.json.error.message, 'string', what)
  }
  const big = await oversize(host, s)
  assert.equal(big.status, 413)
  assert.equal(big.json.error.code, -32600)
  assert.match(big.json.error.message, /limits.max_message_bytes/)

  const note = await post(host, { jsonrpc: '2.0', method: 'notifications/initialized' }, s)
  assert.equal(note.status, 202)
  assert.equal(note.text, '')
  const args = await post(host, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'tools__add', arguments: [1, 2] } }, s)
  assert.equal(args.json.result.isError, true, 'arguments that are no object: a tool error')

  const put = await fetch(host.mcpUrl, { method: 'PUT', body: '{}', headers: { authorization: `Bearer ${E2E_TOKEN}`, ...s } })
  assert.equal(put.status, 405)
  assert.equal(put.headers.get('allow'), 'GET, POST, DELETE, OPTIONS')
  assert.equal((await put.json()).error.code, -32000)
  const get = (headers) => fetch(host.mcpUrl, { headers: { authorization: `Bearer ${E2E_TOKEN}`, ...headers } })
  const notStream = await get({ ...s, accept: 'application/json' })
  assert.equal(notStream.status, 406, 'GET is the event stream only')
  assert.equal((await notStream.json()).error.code, -32600)
  const noSession = await get({ accept: 'text/event-stream' })
  assert.equal(noSession.status, 400)
  await noSession.text()
  // One stream per session: a second GET is refused while the first is open.
  const first = new AbortController()
  const stream = await fetch(host.mcpUrl, { signal: first.signal, headers: { authorization: `Bearer ${E2E_TOKEN}`, accept: 'text/event-stream', ...s } })
  assert.equal(stream.status, 200)
  assert.equal(stream.headers.get('content-type'), 'text/event-stream')
  const second = await get({ ...s, accept: 'text/event-stream' })
  assert.equal(second.status, 409)
  await second.text()
  first.abort()
  const foreign = await fetch(host.mcpUrl, { method: 'POST', headers: { authorization: `Bearer ${E2E_TOKEN}`, origin: 'https://evil.example' }, body: '{}' })
  assert.equal(foreign.status, 403, 'a foreign Origin is refused (docs/security.md)')
  await foreign.text()

  // The session ends with DELETE; the SDK client terminates its own.
  const { client, transport } = await connect(t, host)
  const own = transport.sessionId
  await transport.terminateSession()
  const gone = await post(host, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': own })
  assert.equal(gone.status, 404)
  const del = await fetch(host.mcpUrl, { method: 'DELETE', headers: { authorization: `Bearer ${E2E_TOKEN}`, ...s } })
  assert.equal(del.status, 204)
  // Still serving.
  const { client: again } = await connect(t, host)
  assert.equal((await again.listTools()).tools.length, 4)
  void client
})

test('docs/plugins.md "Functions for AI agents": the plugin shown is the tool and schema shown', async (t) => {
  const section = readmeSection('Functions for AI agents', 'docs/plugins.md')
  const code = /```lua plugin\n([\s\S]*?)```/.exec(section)[1]
  const schema = JSON.parse(/```json\n([\s\S]*?)```/.exec(section)[1])
  const host = await setup(t, { 'todo.lua': code })
  const { client } = await connect(t, host)
  const { tools } = await client.listTools()
  assert.deepEqual(tools.map((tool) => tool.name), ['todo__for_file'])
  assert.deepEqual(tools[0].inputSchema, schema)
  assert.equal(tools[0].title, 'TODO notes of a file')
  assert.match(tools[0].description, /^Lists the open TODO notes/)
  const r = await client.callTool({ name: 'todo__for_file', arguments: { arg0: 'src/main.ts', arg1: {} } })
  assert.deepEqual(r.structuredContent, { file: 'src/main.ts', notes: ['split the router'] })
  const missing = await client.callTool({ name: 'todo__for_file', arguments: { arg0: 'nope.ts', arg1: {} } })
  assert.equal(missing.isError, true)
  assert.equal(missing.content[0].text, 'no such file: nope.ts (not_found)')
})

test('a call past http.request_timeout_ms, a result JSON cannot carry, a name too long for a tool', async (t) => {
  const long = 'slow:' + 'x'.repeat(130)
  const host = await setup(t, { 'slow.lua': `
local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'slow',
  setup = function(ctx)
    ctx.rpc.register(moonhost.define_rpc_function { name = 'slow:wait', type = 'action', args = {},
      agent = { description = 'Never answers in time.' },
      handler = function()
        moonhost.on_cancel(function() ctx.log.info('wait was cancelled') end)
        moonhost.sleep(30)
      end })
    ctx.rpc.register(moonhost.define_rpc_function { name = 'slow:big', args = {},
      agent = { description = 'A BigInt.' }, handler = function() return moonhost.bigint('12345678901234567890') end })
    ctx.rpc.register(moonhost.define_rpc_function { name = '${long}',
      agent = { description = 'Too long a name.' }, handler = function() return 1 end })
  end,
}` }, ', http = { request_timeout_ms = 300 }')
  const { client } = await connect(t, host)
  const { tools } = await client.listTools()
  assert.deepEqual(tools.map((tool) => tool.name), ['slow__big', 'slow__wait'])
  await host.waitForLog(new RegExp(`${long}: not offered as a tool: its tool name would be over 128 characters`))
  const big = await client.callTool({ name: 'slow__big', arguments: {} })
  assert.equal(big.isError, true)
  assert.match(big.content[0].text, /the result cannot be sent as JSON: BigInt/)
  const slow = await client.callTool({ name: 'slow__wait', arguments: {} })
  assert.equal(slow.isError, true)
  assert.match(slow.content[0].text, /^no answer within http.request_timeout_ms \(300 ms\) \(rpc_timeout\)$/)
  await host.waitForLog(/\[slow\] wait was cancelled/)
})
