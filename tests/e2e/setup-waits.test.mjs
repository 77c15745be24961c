// A plugin whose setup waits (moonhost.sleep, a peer that never answers):
// lua.setup_timeout_ms stops it and the load fails with the reason, a newer
// load of the plugin stops it, and so does shutdown (README "Plugins").
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Host, moonhostBin, startHost, writeTree, E2E_TOKEN } from './lib/host.mjs'

const waitsForever = (name) => `
local moonhost = require 'moonhost'
return moonhost.plugin {
  name = '${name}',
  setup = function(ctx)
    ctx.rpc.register(moonhost.define_rpc_function { name = '${name}:hi', type = 'query',
      handler = function() return 'hi' end })
    ctx.log.info('${name}: setup waits')
    moonhost.on_cancel(function() ctx.log.info('${name}: setup cleanup ran') end)
    moonhost.sleep(1e6)
  end,
}`

const quick = `
local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'quick',
  setup = function(ctx)
    ctx.rpc.register(moonhost.define_rpc_function { name = 'quick:hi', type = 'query',
      handler = function() return 'quick' end })
  end,
}`

function tree(extraConfig = '') {
  return writeTree({
    'plugins/slow.lua': waitsForever('slow'),
    'plugins/quick.lua': quick,
    'conf.d/00-test.lua': `return { auth = { tokens = { '${E2E_TOKEN}' }, generate_token = false }${extraConfig} }`,
  })
}

test('a setup that waits past lua.setup_timeout_ms is stopped (its cleanups run); the load fails with rpc_timeout and the host serves the rest', { timeout: 30000 }, async (t) => {
  const dir = tree(', lua = { setup_timeout_ms = 300 }')
  const host = await startHost({ plugins: join(dir, 'plugins'), config: join(dir, 'conf.d'), root: dir })
  t.after(() => host.stop())
  assert.match(host.log, /slow: setup cleanup ran/)
  assert.match(host.log, /slow: load failed \(rpc_timeout\): setup did not finish within 300 ms \(lua\.setup_timeout_ms\)/)
  const c = await host.connect()
  assert.equal(await c.rpc['quick:hi'](), 'quick')
  await assert.rejects(c.rpc['slow:hi'](), (e) => /plugin "slow" failed to load: setup did not finish within 300 ms/.test(e.message))
})

test('SIGTERM while a setup waits: the load is stopped and the host exits at once with 0', { timeout: 30000 }, async (t) => {
  const dir = tree(', lua = { setup_timeout_ms = 0 }') // no limit: only the signal stops it
  const child = spawn(moonhostBin, ['run', '--listen', '127.0.0.1:0', '--log-level', 'debug', '--root', dir,
    '--plugins', join(dir, 'plugins'), '--config', join(dir, 'conf.d')])
  const host = new Host(child)
  host.ready.catch(() => {})
  t.after(() => child.exitCode === null && child.kill('SIGKILL'))
  await host.waitForLog(/slow: setup waits/)
  child.kill('SIGTERM')
  assert.deepEqual(await host.exited, { code: 0, signal: null })
  assert.match(host.log, /slow: load of generation 1 stopped: the host is shutting down/)
  assert.match(host.log, /slow: setup cleanup ran/)
  assert.doesNotMatch(host.log, /load failed/, 'a load stopped by shutdown is not a failure')
})

test('a change to a plugin whose new setup still waits stops that load; the newer version loads', { timeout: 30000 }, async (t) => {
  const dir = tree(', lua = { setup_timeout_ms = 0 }')
  const noWait = waitsForever('slow').replace(/\n\s*moonhost\.sleep\(1e6\)/, '')
  writeFileSync(join(dir, 'plugins/slow.lua'), noWait)
  const host = await startHost({ plugins: join(dir, 'plugins'), config: join(dir, 'conf.d'), root: dir })
  t.after(() => host.stop())
  await host.waitForLog(/watching /)
  writeFileSync(join(dir, 'plugins/slow.lua'), waitsForever('slow'))
  await host.waitForLog(/slow: setup waits[^]*slow: setup waits/) // generation 2's
  writeFileSync(join(dir, 'plugins/slow.lua'), noWait + '\n-- edited')
  await host.waitForLog(/slow: loaded \(generation 3\)/)
  assert.match(host.log, /slow: load of generation 2 stopped: superseded by a newer load/)
  assert.match(host.log, /slow: setup cleanup ran/)
  assert.doesNotMatch(host.log, /load failed/)
  const c = await host.connect()
  assert.equal(await c.rpc['slow:hi'](), 'hi')
})
