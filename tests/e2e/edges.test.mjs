// Small CLI and log edges (issue 15 item 12): `moonhost test --help`, plugin
// load errors logged once and named when their functions are called, a
// plugin name that differs from its file, `listen` changed at run time,
// `moonhost config` hiding secrets, ctx.root absolute.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runMoonhost } from './lib/util.mjs'

test('moonhost test --help exits 0 with moonhost usage and busted options', async () => {
  for (const flag of ['--help', '-h']) {
    const r = await runMoonhost(['test', flag])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^moonhost test \[options\] \[BUSTED OPTIONS\] \[PATHS\.\.\.\]/)
    assert.match(r.stdout, /--filter=PATTERN/)
    assert.doesNotMatch(r.stdout + r.stderr, /: error:|re-run with --help/)
  }
})
