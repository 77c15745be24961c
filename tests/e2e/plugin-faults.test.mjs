// Plugin faults the host must survive: a memory bomb (the per-plugin cap
// stops it), error values that are not strings, a handler broadcasting in a
// loop. After each, the host answers a normal call.
import test from 'node:test'
import assert from 'node:assert/strict'
import { writeTree } from './lib/host.mjs'
import { hostFor, rejectionOf, testConfigSource } from './lib/util.mjs'

const faults = `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'faults', setup = function(ctx)
  local function reg(name, fn, t) ctx.rpc.register(moonhost.define_rpc_function { name = name, type = t or 'action', handler = fn }) end
  reg('faults:bomb', function()
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end
  end)
  reg('faults:table_error', function() error({ detail = 'a table, not a string' }) end)
  reg('faults:nil_error', function() error(nil) end)
  reg('faults:userdata_error', function() error(io.stdout) end)
  reg('faults:spam', function(n)
    for i = 1, n do ctx.rpc.broadcast('faults:tick', i) end
    return n
  end)
  reg('faults:ok', function() return 'ok' end)
end }
`

async function setup(t) {
  const config = writeTree({
    '00-test.lua': testConfigSource(),
    '10-mem.lua': 'return { lua = { memory_bytes = 16 * 1024 * 1024 } }',
  })
  const host = await hostFor(t, { plugins: writeTree({ 'faults.lua': faults }), config })
  return { host, c: await host.connect({ 'faults:tick': () => {} }) }
}

test('a memory bomb hits the plugin memory cap: a clear error, and the plugin keeps serving', async (t) => {
  const { c } = await setup(t)
  const err = await rejectionOf(c.rpc['faults:bomb']())
  assert.equal(err.code, 'internal')
  assert.match(err.message, /memory limit .* \(lua\.memory_bytes\)/)
  assert.equal(await c.rpc['faults:ok'](), 'ok')
})

test('errors that are tables, nil or userdata become error replies with a message', async (t) => {
  const { c } = await setup(t)
  for (const name of ['faults:table_error', 'faults:nil_error', 'faults:userdata_error']) {
    const err = await rejectionOf(c.rpc[name]())
    assert.equal(err.code, 'internal', name)
    assert.equal(typeof err.message, 'string', name)
    assert.ok(err.message.length > 0, name)
  }
  assert.equal(await c.rpc['faults:ok'](), 'ok')
})

test('a handler broadcasting 20 000 events in a loop does not take the host down', async (t) => {
  const { host, c } = await setup(t)
  assert.equal(await c.rpc['faults:spam'](20000), 20000)
  const other = await host.connect()
  assert.equal(await other.rpc['faults:ok'](), 'ok')
})
