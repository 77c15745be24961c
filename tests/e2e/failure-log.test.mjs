// What a failed call leaves in the host's log: a caller's mistake (wrong
// argument types refused by the schema) and a plugin's deliberate answer
// (moonhost.error) are debug lines naming the function, without traceback;
// a fault of the plugin (a Lua error) stays an error line with its traceback.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { hostFor, rejectionOf, tempTree, runMoonhost } from './lib/util.mjs'

const PLUGIN = `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'flog', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'flog:add', args = { 'number', 'number' },
    handler = function(a, b) return a + b end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'flog:find', handler = function(id)
    moonhost.error { code = 'not_found', message = 'no item ' .. tostring(id) }
  end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'flog:crash', handler = function()
    local t = nil
    return t.field_of_nothing
  end })
end }
`

// The log line that mentions text, and whether a traceback follows it.
function lineOf(log, text) {
  const lines = log.split('\n')
  const i = lines.findIndex((l) => l.includes(text))
  return i < 0 ? null : { line: lines[i], traceback: /^\s+\|/.test(lines[i + 1] || '') }
}

test('wrong argument types and moonhost.error are debug lines without traceback; a Lua error keeps error level', async (t) => {
  const host = await hostFor(t, { plugins: tempTree(t, { 'flog.lua': PLUGIN }) })
  const c = await host.connect()
  const bad = await rejectionOf(c.rpc['flog:add']('two', 3))
  assert.equal(bad.code, 'bad_request')
  const missing = await rejectionOf(c.rpc['flog:find'](7))
  assert.equal(missing.code, 'not_found')
  const crash = await rejectionOf(c.rpc['flog:crash']())
  assert.equal(crash.code, 'internal')
  // Lines are written in order: once the crash's traceback is there, so is everything before it.
  await host.waitForLog(/error \[plugin\] flog: flog:crash: internal: .*attempt to index a nil value.*\n\s+\| stack traceback/)

  const schema = lineOf(host.log, 'argument 1: expected number, got string')
  assert.ok(schema, host.log)
  assert.match(schema.line, / debug \[plugin\] flog: flog:add answered bad_request: argument 1: expected number, got string$/)
  assert.equal(schema.traceback, false, 'no traceback for a caller\'s mistake')
  const answer = lineOf(host.log, 'no item 7')
  assert.match(answer.line, / debug \[plugin\] flog: flog:find answered not_found: no item 7$/)
  assert.equal(answer.traceback, false, 'no traceback for a deliberate moonhost.error')
  assert.doesNotMatch(host.log, / error \[plugin\] flog: flog:(add|find)/)
  assert.equal(await c.rpc['flog:add'](2, 3), 5, 'the function still works')
})

test('at the default log level a caller\'s mistake leaves no line at all', async (t) => {
  const host = await hostFor(t, { plugins: tempTree(t, { 'flog.lua': PLUGIN }), logLevel: 'info' })
  const c = await host.connect()
  await rejectionOf(c.rpc['flog:add']({}, 3))
  await rejectionOf(c.rpc['flog:find'](1))
  await rejectionOf(c.rpc['flog:crash']())
  await host.waitForLog(/error \[plugin\] flog: flog:crash: internal/)
  assert.doesNotMatch(host.log, /flog:add|flog:find|expected number|no item/)
})

test('moonhost test prints no error lines for errors a passing spec expects', async (t) => {
  const dir = tempTree(t, {
    'plugins/flog.lua': PLUGIN,
    'plugins/spec/flog_spec.lua': `local testing = require 'moonhost.testing'
describe('flog', function()
  setup(function() testing.load_plugin('../flog.lua') end)
  it('refuses wrong types', function()
    assert.are.equal('bad_request', testing.error_of(testing.call, 'flog:add', 'x', 1).code)
  end)
  it('answers not_found', function()
    assert.are.equal('not_found', testing.error_of(testing.call, 'flog:find', 1).code)
  end)
end)
`,
  })
  const r = await runMoonhost(['test', '--plugins', join(dir, 'plugins')], { cwd: dir })
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /2 successes \/ 0 failures/)
  assert.doesNotMatch(r.stdout + r.stderr, / (error|warn) \[|traceback/, r.stdout + r.stderr)
})
