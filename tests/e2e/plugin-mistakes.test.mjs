// Mistakes in a plugin's definitions (docs/plugins.md "Mistakes in
// definitions"): an unknown key or a value that is not one of the allowed
// ones fails that plugin's setup, with the plugin's file:line and the
// closest key in the log; the host keeps serving its other plugins.
import test from 'node:test'
import assert from 'node:assert/strict'
import { writeTree } from './lib/host.mjs'
import { hostFor, rejectionOf } from './lib/util.mjs'

const good = `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'good', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'good:ping', handler = function() return 'pong' end })
end }
`

// Each mistake is in the call that starts on line 3 of its file (Lua
// reports a call at the line where it starts); \`return moonhost.plugin {}\`
// is a tail call that leaves no line, so there it is the bad key's line.
/** A plugin registering one function whose definition has `fields` (a mistake among them). */
const withFunction = (plugin, fields) => `local moonhost = require 'moonhost'
return moonhost.plugin { name = '${plugin}', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function {
    ${fields}, handler = function() return true end,
  })
end }
`

const mistakes = {
  'typo.lua': withFunction('typo', "name = 'typo:save', typ = 'action'"),
  'ttl.lua': `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'ttl', setup = function(ctx)
  ctx.rpc.register {
    name = 'ttl:now', cache = { tll = 0.1 }, handler = function() return moonhost.now() end,
  }
end }
`,
  'kind.lua': withFunction('kind', "name = 'kind:save', type = 'acton'"),
  'plugin_key.lua': `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'plugin_key',
  descripton = 'a typo in the plugin table itself',
  setup = function() end,
}
`,
}

test('a typo in a definition fails that plugin with file:line and a hint; the others serve', async (t) => {
  const dir = writeTree({ 'good.lua': good, ...mistakes })
  const host = await hostFor(t, { plugins: dir })
  const c = await host.connect()
  assert.equal(await c.rpc['good:ping'](), 'pong')
  await host.waitForLog(/typo\.lua:3: moonhost\.define_rpc_function 'typo:save': unknown key 'typ', did you mean 'type'\?/)
  await host.waitForLog(/ttl\.lua:3: moonhost\.define_rpc_function 'ttl:now' cache: unknown key 'tll', did you mean 'ttl'\?/)
  await host.waitForLog(
    /kind\.lua:3: moonhost\.define_rpc_function 'kind:save': type must be one of 'query', 'action', 'static', 'event', got 'acton'; did you mean 'action'\?/)
  await host.waitForLog(/plugin_key\.lua:4: moonhost\.plugin 'plugin_key': unknown key 'descripton', did you mean 'description'\?/)
  assert.doesNotMatch(host.log, /lua\/moonhost\/[a-z_]+\.lua:\d+: moonhost\./, 'no message points into moonhost\'s own Lua')
  // None of the broken plugins registered anything: no silent query, no cache forever.
  for (const name of ['typo:save', 'ttl:now', 'kind:save']) {
    const err = await rejectionOf(c.rpc[name]())
    assert.match(String(err.message), /not found|not loaded|failed to load|broken/i, name)
  }
  assert.equal(await c.rpc['good:ping'](), 'pong')
})

test('a function name longer than a client may call (256 bytes) fails setup, not the first call', async (t) => {
  const long = 'long:' + 'x'.repeat(252) // 257 bytes
  const dir = writeTree({
    'good.lua': good,
    'long.lua': withFunction('long', `name = '${long}'`),
    'edge.lua': withFunction('edge', `name = '${long.slice(0, 256)}'`),
  })
  const host = await hostFor(t, { plugins: dir })
  await host.waitForLog(/long: .*function name of 257 bytes: names are at most 256 bytes/)
  const c = await host.connect()
  // 256 bytes is still a name a client can call.
  assert.equal(await c.rpc[long.slice(0, 256)](), true)
  assert.equal(await c.rpc['good:ping'](), 'pong')
})
