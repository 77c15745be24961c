// Every handler runs in its own coroutine: a waiting handler does not hold
// up other calls, and a wait where no coroutine can yield is refused clearly.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hostFor, rejectionOf, tempTree, copyFixturePlugins } from './lib/util.mjs'

const NOT_ALLOWED = /not allowed in this context/

test('a handler sleeping in moonhost.sleep does not delay another client\'s call', async (t) => {
  const host = await hostFor(t)
  const sleeper = await host.connect()
  const other = await host.connect()
  const order = []
  const slow = sleeper.rpc['coro:sleep'](1, 'A').then((v) => {
    order.push('sleeper')
    return v
  })
  // The sleeping call has started (and yielded) before the other call is sent.
  await host.waitForLog(/coro:sleep A started/)
  const fast = await other.rpc['coro:fast']('B')
  order.push('other')
  assert.equal(fast, 'fast:B')
  assert.deepEqual(order, ['other'], 'the other call finished while the first one was still sleeping')
  assert.doesNotMatch(host.log, /coro:sleep A finished/)
  assert.equal(await slow, 'slept:A')
  assert.deepEqual(order, ['other', 'sleeper'])
})

test('the same client can run a second call while its first one sleeps', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  const order = []
  const slow = c.rpc['coro:sleep'](1, 'S').then(() => order.push('slow'))
  await host.waitForLog(/coro:sleep S started/)
  await c.rpc['coro:fast']('F').then(() => order.push('fast'))
  await slow
  assert.deepEqual(order, ['fast', 'slow'])
})

test('moonhost.sleep inside a table.sort comparator raises "not allowed in this context"', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  const err = await rejectionOf(c.rpc['coro:sleep_in_sort']())
  assert.equal(err.code, 'internal')
  assert.match(err.message, NOT_ALLOWED)
  assert.match(err.message, /moonhost\.sleep/)
  assert.equal(await c.rpc['coro:fast']('after'), 'fast:after')
})

test('moonhost.sleep inside a nested coroutine raises "not allowed in this context"', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  const err = await rejectionOf(c.rpc['coro:sleep_in_nested_coroutine']())
  assert.match(err.message, NOT_ALLOWED)
})

test('moonhost.sleep inside a string.gsub callback raises "not allowed in this context"', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  const err = await rejectionOf(c.rpc['coro:sleep_in_gsub']())
  assert.match(err.message, NOT_ALLOWED)
})

// Plugin load outcomes are all in the log once the host listens (it starts
// listening after every plugin finished loading).
const pluginSource = (name, { top = '', setup = '' }) => `local moonhost = require 'moonhost'
${top}
return moonhost.plugin { name = '${name}', setup = function(ctx)
${setup}
  ctx.rpc.register(moonhost.define_rpc_function { name = '${name}:ok', handler = function() return '${name} ok' end })
end }
`

test('moonhost.sleep at the top level of a plugin file is allowed: the whole load runs in a coroutine', async (t) => {
  const dir = copyFixturePlugins(['wire.lua'], tempTree(t, { 'toplevel.lua': pluginSource('toplevel', { top: 'moonhost.sleep(0.01)' }) }))
  const host = await hostFor(t, { plugins: dir })
  assert.match(host.log, /\[plugin\] toplevel: loaded/)
  const c = await host.connect()
  assert.equal(await c.rpc['toplevel:ok'](), 'toplevel ok')
  assert.equal(await c.rpc['wire:sub'](2, 1), 1)
})

test('moonhost.sleep in a module the plugin requires is refused: require cannot wait', async (t) => {
  const dir = tempTree(t, {
    'req/init.lua': pluginSource('req', { top: "local ok, err = pcall(require, 'slowmod')\nassert(not ok and tostring(err):find('not allowed in this context'), tostring(err))" }),
    'req/slowmod.lua': "local moonhost = require 'moonhost'\nmoonhost.sleep(0.01)\nreturn {}\n",
  })
  const host = await hostFor(t, { plugins: dir })
  const c = await host.connect()
  assert.equal(await c.rpc['req:ok'](), 'req ok')
})

test('moonhost.sleep directly in a plugin\'s setup is allowed: the plugin loads and serves', async (t) => {
  const dir = tempTree(t, { 'napper.lua': pluginSource('napper', { setup: '  moonhost.sleep(0.01)' }) })
  const host = await hostFor(t, { plugins: dir })
  const c = await host.connect()
  assert.equal(await c.rpc['napper:ok'](), 'napper ok')
})

test('a pcall that catches an error during setup does not break the plugin', async (t) => {
  const setup = `  local ok, err = pcall(error, 'caught on purpose')
  assert(not ok and tostring(err):find('caught on purpose'))`
  const dir = tempTree(t, { 'catcher.lua': pluginSource('catcher', { setup }) })
  const host = await hostFor(t, { plugins: dir })
  const c = await host.connect()
  assert.equal(await c.rpc['catcher:ok'](), 'catcher ok')
})

test('a pcall that catches an error at the top level of a plugin file does not break the plugin', async (t) => {
  const top = "local has_lfs = pcall(require, 'a_module_that_does_not_exist')"
  const dir = tempTree(t, { 'optional.lua': pluginSource('optional', { top }) })
  const host = await hostFor(t, { plugins: dir })
  const c = await host.connect()
  assert.equal(await c.rpc['optional:ok'](), 'optional ok')
})

test('a handler may catch errors with pcall, also around a wait', async (t) => {
  const dir = tempTree(t, {
    'careful.lua': `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'careful', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'careful:run', type = 'action', handler = function()
    local ok1, e1 = pcall(error, 'first')
    local ok2, e2 = pcall(function() moonhost.sleep(0.001); error('after sleep') end)
    local ok3 = pcall(moonhost.sleep, 0.001)
    return { ok1 = ok1, e1 = tostring(e1), ok2 = ok2, e2 = tostring(e2):match('after sleep'), ok3 = ok3 }
  end })
end }
`,
  })
  const host = await hostFor(t, { plugins: dir })
  const c = await host.connect()
  assert.deepEqual(await c.rpc['careful:run'](), { ok1: false, e1: 'first', ok2: false, e2: 'after sleep', ok3: true })
})
