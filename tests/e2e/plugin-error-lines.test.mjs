// Errors the plugin API raises point into the plugin or spec that made the
// mistake, never into moonhost's own Lua (docs/plugins.md "Mistakes in
// definitions"); ctx.rpc.broadcast takes the Vite DevTools Kit's
// { method =, args = } table as well as (name, ...); a wait_for that times
// out names what it waited for.
import test from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { runMoonhost, writeTree } from './lib/host.mjs'
import { hostFor, rejectionOf, deferred } from './lib/util.mjs'

// Line numbers matter below: keep the lines of this plugin where they are.
const shout = `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'shout', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'shout:positional', type = 'action', handler = function(text)
    return ctx.rpc.broadcast('shout:heard', text, 1)
  end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'shout:kit', type = 'action', handler = function(text)
    return ctx.rpc.broadcast({ method = 'shout:heard', args = { text, 2 }, optional = true })
  end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'shout:nil', type = 'action', handler = function()
    ctx.rpc.broadcast(nil)
  end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'shout:bad_key', type = 'action', handler = function()
    ctx.rpc.broadcast({ methd = 'shout:heard' })
  end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'shout:call_nil', type = 'action', handler = function()
    ctx.rpc.call_client(nil, 'x')
  end })
  -- A tail call leaves no line of the plugin's: then the message has none.
  ctx.rpc.register(moonhost.define_rpc_function { name = 'shout:tail', type = 'action', handler = function()
    return ctx.rpc.broadcast(nil)
  end })
end }
`

test('broadcast takes (name, ...) and { method =, args = }; its argument errors name the plugin line', async (t) => {
  const host = await hostFor(t, { plugins: writeTree({ 'shout.lua': shout }) })
  const heard = []
  let next = deferred()
  const c = await host.connect({ 'shout:heard': (text, n) => { heard.push([text, n]); next.resolve() } })
  assert.equal(await c.rpc['shout:positional']('hi'), 1, 'sent to one client')
  await next.promise
  next = deferred()
  assert.equal(await c.rpc['shout:kit']('ho'), 1)
  await next.promise
  assert.deepEqual(heard, [['hi', 1], ['ho', 2]])

  let err = await rejectionOf(c.rpc['shout:nil']())
  assert.match(err.message, /shout\.lua:10: ctx\.rpc\.broadcast: expected a function name or \{ method =, args = \}, got nil/)
  err = await rejectionOf(c.rpc['shout:bad_key']())
  assert.match(err.message, /shout\.lua:13: ctx\.rpc\.broadcast: unknown key 'methd', did you mean 'method'\?/)
  err = await rejectionOf(c.rpc['shout:call_nil']())
  assert.match(err.message, /shout\.lua:16: ctx\.rpc\.call_client: expected a client id/)
  err = await rejectionOf(c.rpc['shout:tail']())
  assert.match(err.message, /^ctx\.rpc\.broadcast: expected a function name/)
  assert.doesNotMatch(host.log, /lua\/moonhost\/runtime\.lua:\d+: (ctx|bad argument)/)
})

test('moonhost test: errors of the testing API point at the spec line; wait_for names the event', async () => {
  const dir = writeTree({
    'shout.lua': shout,
    'spec/shout_spec.lua': `local testing = require 'moonhost.testing'
describe('shout', function()
  it('waits for an event that never comes', function()
    testing.load_plugin('../shout.lua')
    local client = testing.connect_client()
    testing.call('shout:positional', 'hi')
    client:wait_for('shout:never', 0.2)
  end)
  it('calls a function that does not exist', function()
    testing.call('shout:nope')
  end)
  it('gives connect_client an unknown option', function()
    testing.connect_client { trusted = true, codek = 'json' }
  end)
  it('gets the error of a function at its own line', function()
    testing.load_plugin('../shout.lua')
    local err = testing.error_of(testing.call, 'shout:nil')
    assert.matches('shout%.lua:10: ctx%.rpc%.broadcast: expected a function name', err.message)
  end)
end)
`,
  })
  const r = await runMoonhost(['test', '-o', 'TAP', join(dir, 'spec')])
  assert.equal(r.code, 1, r.stdout + r.stderr)
  const out = r.stdout
  assert.match(out, /shout_spec\.lua:7: client:wait_for\('shout:never'\): no 'shout:never' arrived within 0\.2 s \(received: 'shout:heard'\) \(rpc_timeout\)/)
  assert.match(out, /shout_spec\.lua:10: .*shout:nope.* \(not_found\)/)
  assert.match(out, /shout_spec\.lua:13: moonhost\.testing\.connect_client: unknown key 'codek', did you mean 'codec'\?/)
  assert.match(out, /^ok 4 - shout gets the error of a function at its own line$/m)
  assert.doesNotMatch(out, /lua\/moonhost\/(testing|test_client|runtime)\.lua:\d+:/)
})
