// Small CLI and log edges (issue 15 item 12): `moonhost test --help`, plugin
// load errors logged once and named when their functions are called, a
// plugin name that differs from its file, `listen` changed at run time,
// `moonhost config` hiding secrets, ctx.root absolute.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, realpathSync } from 'node:fs'
import { join } from 'node:path'
import { copyFixturePlugins, hostFor, runMoonhost, scratchDir, tempTree } from './lib/util.mjs'

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
