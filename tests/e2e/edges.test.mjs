// Small CLI and log edges (issue 15 item 12): `moonhost test --help`, plugin
// load errors logged once and named when their functions are called, a
// plugin name that differs from its file, `listen` changed at run time,
// `moonhost config` hiding secrets, ctx.root absolute.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { configDir, copyFixturePlugins, hostFor, rejectionOf, runMoonhost, scratchDir, tempTree } from './lib/util.mjs'
import { E2E_TOKEN } from './lib/host.mjs'

test('moonhost test --help exits 0 with moonhost usage and busted options', async () => {
  for (const flag of ['--help', '-h']) {
    const r = await runMoonhost(['test', flag])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^moonhost test \[options\] \[BUSTED OPTIONS\] \[PATHS\.\.\.\]/)
    assert.match(r.stdout, /--filter=PATTERN/)
    assert.doesNotMatch(r.stdout + r.stderr, /: error:|re-run with --help/)
  }
})

test('moonhost config hides tokens and keys and prints empty lists as []', async (t) => {
  const dir = tempTree(t, {
    '10-secrets.lua': `return {
      auth = { tokens = { 'tok-plain-1', { token = 'tok-roles-2', roles = { 'admin' } } } },
      mesh = { key = 'mesh-key-3', upstreams = { 'ws://10.0.0.2:7812/__ws?a=1&token=tok-url-4&vite_devtools_auth_token=tok-url-5' } },
    }\n`,
  })
  const r = await runMoonhost(['config', '--config', dir])
  assert.equal(r.code, 0, r.stderr)
  assert.doesNotMatch(r.stdout, /tok-|mesh-key/)
  const cfg = JSON.parse(r.stdout)
  assert.deepEqual(cfg.auth.tokens, ['<hidden>', { token: '<hidden>', roles: ['admin'] }])
  assert.equal(cfg.mesh.key, '<hidden>')
  assert.deepEqual(cfg.mesh.upstreams, ['ws://10.0.0.2:7812/__ws?a=1&token=<hidden>&vite_devtools_auth_token=<hidden>'])
  assert.deepEqual(cfg.auth.allowed_origins, [])
  assert.deepEqual(cfg.auth.allowed_hosts, [])
  assert.deepEqual(cfg.mesh.permissions, [])
  assert.deepEqual(cfg.plugins, {}, 'a table that is no list stays {}')

  const empty = JSON.parse((await runMoonhost(['config', '--config', tempTree(t, { '10.lua': 'return {}' })])).stdout)
  assert.deepEqual(empty.auth.tokens, [])
  assert.deepEqual(empty.mesh.upstreams, [])
  assert.equal(empty.mesh.key, '', 'no key: nothing to hide')
})

test('ctx.root is absolute when --root is relative or left at "."', async (t) => {
  const cwd = realpathSync(scratchDir('moonhost-e2e-cwd-'))
  mkdirSync(join(cwd, 'app'))
  const plugins = copyFixturePlugins(['ctxinfo.lua'], tempTree(t, {}))
  for (const [root, want] of [['app', join(cwd, 'app')], ['./app/', join(cwd, 'app')], [undefined, cwd]]) {
    const host = await hostFor(t, { plugins, root, cwd })
    const c = await host.connect()
    assert.equal((await c.rpc['ctxinfo:get']()).root, want, `--root ${root}`)
    c.close()
    await host.stop()
  }
  // In a spec too, also after testing.root('relative').
  const spec = tempTree(t, {
    'root_spec.lua': `local testing = require 'moonhost.testing'
describe('root', function()
  it('is absolute', function()
    assert.equal(${JSON.stringify(cwd)}, testing.root())
    testing.root('app')
    assert.equal(${JSON.stringify(join(cwd, 'app'))}, testing.root())
  end)
end)
`,
  })
  const r = await runMoonhost(['test', join(spec, 'root_spec.lua'), '-o', 'TAP'], { cwd })
  assert.equal(r.code, 0, r.stdout + r.stderr)
})

const okPlugin = (name, fname = name) => `local moonhost = require 'moonhost'
return moonhost.plugin { name = '${name}', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = '${fname}:f', handler = function() return 1 end })
end }
`

test('a plugin that does not compile: logged once; calling its functions names the plugin and why', async (t) => {
  const plugins = tempTree(t, {
    'broken.lua': "local moonhost = require 'moonhost'\nreturn moonhost.plugin { name = 'broken', setup = function() end end }\n",
    'fine.lua': okPlugin('fine'),
  })
  const host = await hostFor(t, { plugins })
  await host.waitForLog(/\[plugin\] fine: loaded/)
  const lines = host.log.split('\n').filter((l) => l.includes('broken.lua:2:'))
  assert.equal(lines.length, 1, `logged once:\n${host.log}`)
  assert.match(lines[0], /error \[plugin\] broken: load failed \(internal\): .*broken\.lua:2: '}' expected near 'end'/)
  assert.doesNotMatch(host.log, /stack traceback/)

  const why = /^\[birpc\] function "broken:f" not found: plugin "broken" failed to load: .*broken\.lua:2: '}' expected near 'end'$/
  const c = await host.connect()
  let err = await rejectionOf(c.rpc['broken:f']())
  assert.match(err.message, why)
  err = await rejectionOf(c.rpc['fine:nope']())
  assert.equal(err.message, '[birpc] function "fine:nope" not found', 'a plugin that loaded: plain not_found')
  const res = await fetch(`http://127.0.0.1:${host.port}/rpc/broken/f`, { method: 'POST', headers: { authorization: `Bearer ${E2E_TOKEN}` } })
  const body = await res.json()
  assert.equal(res.status, 404)
  assert.equal(body.json.code, 'NOT_FOUND')
  assert.match(body.json.message, /^function "broken:f" not found: plugin "broken" failed to load: /)

  // Fixed: it loads, and nothing says broken any more.
  await host.waitForLog(/\[reload\] watching /)
  writeFileSync(join(plugins, 'broken.lua'), okPlugin('broken'))
  await host.waitForLog(/\[plugin\] broken: loaded/)
  assert.equal(await c.rpc['broken:f'](), 1)
  c.close()
})

test('a plugin whose name differs from its file warns, naming both', async (t) => {
  const plugins = tempTree(t, { 'files.lua': okPlugin('filez'), 'same.lua': okPlugin('same') })
  const host = await hostFor(t, { plugins })
  await host.waitForLog(/\[plugin\] same: loaded/)
  await host.waitForLog(/warn +\[files\] .*files\.lua: declares name 'filez' but the host names a plugin after its file: .* call it 'files' while ctx\.name is 'filez'/)
  assert.doesNotMatch(host.log, /declares name 'same'/)
})

test('listen changed in conf.d at run time: the log says a restart is needed and the host keeps its address', async (t) => {
  const config = configDir(t, { '50-listen.lua': "return { listen = '127.0.0.1:0' }\n" })
  // No --listen flag: conf.d decides.
  const host = await hostFor(t, { config, listen: false })
  await host.waitForLog(/\[reload\] watching .* and /)
  writeFileSync(join(config, '50-listen.lua'), "return { listen = '127.0.0.1:7999' }\n")
  await host.waitForLog(new RegExp(`warn +\\[reload\\] listen changed to 127\\.0\\.0\\.1:7999: restart moonhost to apply it \\(it keeps serving 127\\.0\\.0\\.1:${host.port}\\)`))
  await host.waitForLog(/configuration reloaded/)
  const c = await host.connect()
  assert.equal(await c.rpc['http:echo'](1), 1, 'still serving, Host check included')
  c.close()
})

test('listen changed in conf.d while --listen is given: the log says the flag decides', async (t) => {
  const config = configDir(t, { '50-listen.lua': "return { listen = '127.0.0.1:7998' }\n" })
  const host = await hostFor(t, { config })
  await host.waitForLog(/\[reload\] watching .* and /)
  writeFileSync(join(config, '50-listen.lua'), "return { listen = '127.0.0.1:7997' }\n")
  await host.waitForLog(/warn +\[reload\] listen changed in conf\.d to 127\.0\.0\.1:7997, but --listen on the command line decides/)
  await host.waitForLog(/configuration reloaded/)
  assert.doesNotMatch(host.log, /listen changed to/)
})
