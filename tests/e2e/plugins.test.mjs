// Plugin loading: file and directory plugins, a failing setup, duplicate
// registrations (within one plugin and across two), and what ctx holds.
//
// The host prints "listening on" only after every plugin has finished
// loading, so once startHost resolves the log holds every load outcome.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { realpathSync } from 'node:fs'
import { hostFor, rejectionOf, copyFixturePlugins, configDir, scratchDir, tempTree } from './lib/util.mjs'

const plugin = (name, body) => `local moonhost = require 'moonhost'
return moonhost.plugin { name = '${name}', setup = function(ctx)
${body}
end }
`
const fn = (name, value) =>
  `  ctx.rpc.register(moonhost.define_rpc_function { name = '${name}', handler = function() return ${JSON.stringify(value)} end })`

/** A plugins dir with inline plugins plus copies of fixture plugins. */
function pluginsDir(t, inline, fixtureNames = []) {
  const dir = tempTree(t, inline)
  copyFixturePlugins(fixtureNames, dir)
  return dir
}

test('plugins/NAME.lua and plugins/NAME/init.lua (requiring a sibling module) both load', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  assert.equal(await c.rpc['wire:sub'](10, 4), 6)
  assert.equal(await c.rpc['multi:greet']('e2e'), 'hello e2e from helper')
  const fns = await c.rpc['moonhost:functions']()
  const byName = Object.fromEntries(fns.map((f) => [f.name, f]))
  assert.equal(byName['multi:greet'].plugin, 'multi')
  assert.equal(byName['wire:sub'].plugin, 'wire')
  assert.equal(byName['wire:bump'].type, 'event')
  assert.equal(byName['moonhost:stats'].plugin, null)
  assert.match(host.log, /\[plugin\] multi: loaded/)
  assert.match(host.log, /\[plugin\] wire: loaded/)
})

test('a plugin whose setup throws is reported in the log; the others keep serving', async (t) => {
  const dir = pluginsDir(
    t,
    {
      'broken.lua': plugin('broken', `${fn('broken:early', 1)}\n  error('setup-broke-here')`),
      'after.lua': plugin('after', fn('after:ok', 'after works')),
    },
    ['wire.lua'],
  )
  const host = await hostFor(t, { plugins: dir })
  assert.match(host.log, /broken.*setup-broke-here/)
  const c = await host.connect()
  assert.equal(await c.rpc['wire:sub'](3, 1), 2)
  assert.equal(await c.rpc['after:ok'](), 'after works')
  // Loading is a transaction: what the failed setup registered is not served.
  const err = await rejectionOf(c.rpc['broken:early']())
  assert.equal(err.code, 'not_found')
  const names = (await c.rpc['moonhost:functions']()).map((f) => f.name)
  assert.ok(!names.includes('broken:early'))
  assert.doesNotMatch(host.log, /\[plugin\] broken: loaded/)
})

test('a plugin whose file body or setup never ends, or eats memory, is stopped by the budget; the host starts and the others serve', async (t) => {
  const dir = pluginsDir(t, {
    'looptop.lua': 'while true do end\n',
    'loopsetup.lua': plugin('loopsetup', `${fn('loopsetup:early', 1)}\n  while true do pcall(function() while true do end end) end`),
    'memsetup.lua': plugin('memsetup', "  local t = {}\n  for i = 1, 1e9 do t[i] = ('x'):rep(1000) .. i end"),
    'after.lua': plugin('after', fn('after:ok', 'after works')),
  })
  const config = configDir(t, { '10-mem.lua': 'return { lua = { memory_bytes = 16 * 1024 * 1024 } }' })
  const host = await hostFor(t, { plugins: dir, config })
  const c = await host.connect()
  assert.equal(await c.rpc['after:ok'](), 'after works')
  const stopped = /call stopped after \d+ instructions \(lua\.instruction_budget\)/
  for (const [name, why] of [['looptop:x', stopped], ['loopsetup:early', stopped], ['memsetup:x', /plugin memory limit of 16777216 bytes reached/]]) {
    const err = await rejectionOf(c.rpc[name]())
    assert.equal(err.code, 'not_found', name)
    assert.match(err.message, why, name)
  }
  assert.match(host.log, /\[plugin\] loopsetup: load failed \(rpc_timeout\)/)
})

test('a plugin file with a Lua syntax error is reported; the others keep serving', async (t) => {
  const dir = pluginsDir(t, { 'syntax.lua': "local moonhost = require 'moonhost'\nreturn moonhost.plugin {\n  name = = 'x',\n}\n" }, ['wire.lua'])
  const host = await hostFor(t, { plugins: dir })
  assert.match(host.log, /syntax.*syntax\.lua:3/)
  const c = await host.connect()
  assert.equal(await c.rpc['wire:sub'](5, 1), 4)
})

test('registering a name twice in one plugin fails that plugin with rpc_method_already_registered; others keep serving', async (t) => {
  const dir = pluginsDir(
    t,
    { 'twice.lua': plugin('twice', `${fn('twice:x', 1)}\n${fn('twice:y', 2)}\n${fn('twice:x', 3)}`) },
    ['wire.lua'],
  )
  const host = await hostFor(t, { plugins: dir })
  assert.match(host.log, /\[plugin\] twice: .*twice:x/)
  assert.match(host.log, /\[plugin\] wire: loaded/)
  const c = await host.connect()
  assert.equal(await c.rpc['wire:sub'](9, 1), 8)
  assert.equal((await rejectionOf(c.rpc['twice:x']())).code, 'not_found')
  assert.equal((await rejectionOf(c.rpc['twice:y']())).code, 'not_found')
  // The log line that reports the failure names the error code.
  assert.match(host.log, /\[plugin\] twice: .*rpc_method_already_registered/)
})

test('registering a name another plugin owns fails the later plugin with rpc_method_already_registered; the owner keeps serving', async (t) => {
  const dir = pluginsDir(t, {
    // Plugins load in name order: 'aaa' registers the name first.
    'aaa.lua': plugin('aaa', `${fn('both:name', 'from aaa')}\n${fn('aaa:own', 'aaa own')}`),
    'zzz.lua': plugin('zzz', `${fn('zzz:own', 'zzz own')}\n${fn('both:name', 'from zzz')}`),
  })
  const host = await hostFor(t, { plugins: dir })
  assert.match(host.log, /\[plugin\] zzz: .*both:name.*aaa/)
  const c = await host.connect()
  assert.equal(await c.rpc['both:name'](), 'from aaa')
  assert.equal(await c.rpc['aaa:own'](), 'aaa own')
  assert.equal((await rejectionOf(c.rpc['zzz:own']())).code, 'not_found')
  const fns = await c.rpc['moonhost:functions']()
  assert.equal(fns.find((f) => f.name === 'both:name').plugin, 'aaa')
  assert.match(host.log, /\[plugin\] zzz: .*rpc_method_already_registered/)
})

test('the duplicate-registration error reaches Lua with code rpc_method_already_registered', async (t) => {
  const body = `
  ${fn('probe:x', 1)}
  local ok, err = pcall(ctx.rpc.register, moonhost.define_rpc_function { name = 'probe:x', handler = function() end })
  local ok2, err2 = pcall(ctx.rpc.register, moonhost.define_rpc_function { name = 'moonhost:stats', handler = function() end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'probe:result', handler = function()
    return { ok = ok, code = type(err) == 'table' and err.code or tostring(err),
             ok2 = ok2, code2 = type(err2) == 'table' and err2.code or tostring(err2) }
  end })`
  const dir = pluginsDir(t, { 'probe.lua': plugin('probe', body) })
  const host = await hostFor(t, { plugins: dir })
  const c = await host.connect()
  assert.deepEqual(await c.rpc['probe:result'](), {
    ok: false,
    code: 'rpc_method_already_registered',
    ok2: false,
    code2: 'rpc_method_already_registered',
  })
})

test('ctx: mode, root (from --root) and config (from conf.d plugins.NAME) are visible to a handler', async (t) => {
  const root = realpathSync(scratchDir('moonhost-e2e-root-'))
  const config = configDir(t, {
    '50-ctx.lua': "return { plugins = { ctxinfo = { greeting = 'hi', nested = { n = 1 }, list = { 'a', 'b' } }, other = { secret = 'not yours' } } }\n",
  })
  const host = await hostFor(t, { plugins: copyFixturePlugins(['ctxinfo.lua'], tempTree(t, {})), config, root })
  const c = await host.connect()
  assert.deepEqual(await c.rpc['ctxinfo:get'](), {
    name: 'ctxinfo',
    mode: 'dev',
    root,
    config: { greeting: 'hi', nested: { n: 1 }, list: ['a', 'b'] },
  })
})

test('ctx.mode follows the mode setting', async (t) => {
  const config = configDir(t, { '50-mode.lua': "return { mode = 'build' }\n" })
  const host = await hostFor(t, { plugins: copyFixturePlugins(['ctxinfo.lua'], tempTree(t, {})), config })
  const c = await host.connect()
  assert.equal((await c.rpc['ctxinfo:get']()).mode, 'build')
})

test('ctx.config is read-only, at the top and nested', async (t) => {
  const config = configDir(t, { '50-ctx.lua': "return { plugins = { ctxinfo = { greeting = 'hi', nested = { n = 1 } } } }\n" })
  const host = await hostFor(t, { plugins: copyFixturePlugins(['ctxinfo.lua'], tempTree(t, {})), config })
  const c = await host.connect()
  const r = await c.rpc['ctxinfo:mutate']()
  assert.equal(r.top_ok, false)
  assert.match(r.top_error, /read-only/)
  assert.equal(r.nested_ok, false)
  assert.match(r.nested_error, /read-only/)
  assert.equal(r.greeting_now, 'hi')
  assert.equal(r.n_now, 1)
})
