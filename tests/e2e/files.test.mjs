// moonhost.read_file / moonhost.write_file: whole files read and written off
// the loop; a write replaces its file atomically (rename), keeps its
// permissions and writes through a symbolic link; mistakes and failures are
// clear errors and the host keeps serving.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, lstatSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { hostFor, rejectionOf, tempTree } from './lib/util.mjs'
import { runMoonhost } from './lib/host.mjs'

const PLUGIN = `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'fs',
  setup = function(ctx)
    local function fn(def) ctx.rpc.register(moonhost.define_rpc_function(def)) end
    fn { name = 'fs:read', type = 'action', args = { 'any', 'any' }, handler = function(path, max)
      local text = moonhost.read_file(path, max)
      return text
    end }
    fn { name = 'fs:write', type = 'action', args = { 'any', 'any' }, handler = function(path, data)
      moonhost.write_file(path, data)
      return true
    end }
    -- JSON cannot carry a NUL: Lua can.
    fn { name = 'fs:nul', type = 'action', handler = function() return moonhost.read_file('a\\0b') end }
    fn { name = 'fs:ping', type = 'action', handler = function() return 'pong' end }
  end,
}
`

async function startFs(t) {
  const root = tempTree(t, { 'notes.txt': 'hello\n', 'sub/deep.txt': 'deep' })
  const host = await hostFor(t, { plugins: tempTree(t, { 'fs.lua': PLUGIN }), root })
  const { rpc, close } = await host.connect()
  t.after(close)
  return { host, rpc, root }
}

test('read_file: relative to the project root or absolute; max_bytes is exact', async (t) => {
  const { rpc, root } = await startFs(t)
  assert.equal(await rpc.$call('fs:read', 'notes.txt'), 'hello\n')
  assert.equal(await rpc.$call('fs:read', 'sub/deep.txt'), 'deep')
  assert.equal(await rpc.$call('fs:read', join(root, 'notes.txt')), 'hello\n')
  assert.equal(await rpc.$call('fs:read', 'notes.txt', 6), 'hello\n')
  const big = 'x'.repeat(3 * 1024 * 1024 + 17) // several read steps
  writeFileSync(join(root, 'big.txt'), big)
  assert.equal(await rpc.$call('fs:read', 'big.txt'), big)
  writeFileSync(join(root, 'empty.txt'), '')
  assert.equal(await rpc.$call('fs:read', 'empty.txt'), '')
  const err = await rejectionOf(rpc.$call('fs:read', 'notes.txt', 5))
  assert.match(err.message, /moonhost.read_file: cannot read notes.txt: it is over max_bytes \(5\)/)
})

test('read_file: missing files, directories and FIFOs are clear errors; a FIFO never holds the host', async (t) => {
  const { rpc, root } = await startFs(t)
  assert.match((await rejectionOf(rpc.$call('fs:read', 'nope.txt'))).message,
    /moonhost.read_file: cannot read nope.txt: no such file or directory/)
  assert.match((await rejectionOf(rpc.$call('fs:read', 'sub'))).message, /cannot read sub: not a regular file/)
  execFileSync('mkfifo', [join(root, 'pipe')])
  // Opening a FIFO for reading waits for a writer: more reads than libuv has
  // pool threads (4) would stall every file operation if it waited.
  for (let i = 0; i < 6; i++) {
    assert.match((await rejectionOf(rpc.$call('fs:read', 'pipe'))).message, /cannot read pipe: not a regular file/)
  }
  assert.equal(await rpc.$call('fs:read', 'notes.txt'), 'hello\n')
})

test('write_file: creates, replaces by rename, keeps the exact mode, writes through a link, leaves no temporary file', async (t) => {
  const { rpc, root } = await startFs(t)
  assert.equal(await rpc.$call('fs:write', 'new.txt', 'fresh'), true)
  assert.equal(readFileSync(join(root, 'new.txt'), 'utf8'), 'fresh')
  // Replaced, not rewritten in place: a new inode, so a reader never sees half of it.
  chmodSync(join(root, 'notes.txt'), 0o664) // a umask of 022 alone would make it 0644
  const before = statSync(join(root, 'notes.txt'))
  await rpc.$call('fs:write', 'notes.txt', 'rewritten ✓')
  const after = statSync(join(root, 'notes.txt'))
  assert.equal(readFileSync(join(root, 'notes.txt'), 'utf8'), 'rewritten ✓')
  assert.notEqual(after.ino, before.ino)
  assert.equal(after.mode & 0o7777, 0o664)
  // Through a symbolic link: the link stays, its target changes.
  symlinkSync('sub/deep.txt', join(root, 'link.txt'))
  await rpc.$call('fs:write', 'link.txt', 'via link')
  assert.ok(lstatSync(join(root, 'link.txt')).isSymbolicLink())
  assert.equal(readFileSync(join(root, 'sub/deep.txt'), 'utf8'), 'via link')
  await rpc.$call('fs:write', 'empty.txt', '')
  assert.equal(readFileSync(join(root, 'empty.txt'), 'utf8'), '')
  // Failures: a directory, a missing directory, a read-only directory.
  assert.match((await rejectionOf(rpc.$call('fs:write', 'sub', 'x'))).message,
    /moonhost.write_file: cannot write sub: it is a directory/)
  assert.match((await rejectionOf(rpc.$call('fs:write', 'no/such/dir.txt', 'x'))).message,
    /cannot write no\/such\/dir.txt: no such file or directory/)
  if (process.getuid() !== 0) { // root writes anywhere
    mkdirSync(join(root, 'ro'))
    chmodSync(join(root, 'ro'), 0o555)
    assert.match((await rejectionOf(rpc.$call('fs:write', 'ro/x.txt', 'x'))).message, /permission denied/)
  }
  const leftovers = (dir) => readdirSync(dir).filter((n) => n.includes('.moonhost-'))
  assert.deepEqual(leftovers(root), [])
  assert.deepEqual(leftovers(join(root, 'sub')), [])
})

test('bad arguments are clear errors; a client that leaves mid-read costs nothing; the host keeps serving', async (t) => {
  const { host, rpc, root } = await startFs(t)
  const cases = [
    ['fs:read', [5], /moonhost.read_file: path must be a string, got number/],
    ['fs:read', [''], /moonhost.read_file: path is empty or holds a NUL byte/],
    ['fs:read', ['notes.txt', -1], /max_bytes must be an integer >= 0/],
    ['fs:read', ['notes.txt', 1.5], /max_bytes must be an integer >= 0/],
    ['fs:read', ['notes.txt', 1e12], /max_bytes 1000000000000 is over this plugin's Lua memory/],
    ['fs:write', ['x.txt', 5], /moonhost.write_file: data must be a string, got number/],
    ['fs:write', [{}, 'x'], /moonhost.write_file: path must be a string, got table/],
  ]
  for (const [name, args, re] of cases) assert.match((await rejectionOf(rpc.$call(name, ...args))).message, re)
  assert.match((await rejectionOf(rpc.$call('fs:nul'))).message, /path is empty or holds a NUL byte/)
  // Reads and writes still under way when their client leaves are dropped (or finish) cleanly.
  writeFileSync(join(root, 'big.txt'), 'y'.repeat(8 * 1024 * 1024))
  const other = await host.connect()
  for (let i = 0; i < 8; i++) {
    other.rpc.$call('fs:read', 'big.txt').catch(() => {})
    other.rpc.$call('fs:write', `w${i}.txt`, 'z'.repeat(1024 * 1024)).catch(() => {})
  }
  other.close()
  await other.closed
  assert.equal(await rpc.$call('fs:ping'), 'pong')
  assert.equal(await rpc.$call('fs:read', 'notes.txt'), 'hello\n')
})

test('moonhost test: a spec calls handlers that read and write; the spec itself is told to use io.open', async (t) => {
  const dir = tempTree(t, {
    'fs.lua': PLUGIN,
    'spec/fs_spec.lua': `local moonhost = require 'moonhost'
local testing = require 'moonhost.testing'
describe('fs', function()
  before_each(function()
    testing.root(testing.tmpdir())
    testing.load_plugin('../fs.lua')
  end)
  after_each(testing.reset)
  it('writes and reads back', function()
    testing.call('fs:write', 'a.txt', 'spec text')
    assert.are.equal('spec text', testing.call('fs:read', 'a.txt'))
  end)
  it('tells the spec itself what to do instead', function()
    local ok, err = pcall(moonhost.read_file, 'a.txt')
    assert.is_false(ok)
    assert.matches("only in a plugin's handler or setup %(a spec itself may use io.open", err)
  end)
end)
`,
  })
  const r = await runMoonhost(['test', join(dir, 'spec'), '-o', 'TAP'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /^ok 1 - fs writes and reads back$/m)
  assert.match(r.stdout, /^ok 2 - fs tells the spec itself/m)
})
