// moonhost.exec: a Lua handler runs a program without blocking the host and
// without a shell; a timeout or a cancelled call kills the program and what
// it started; bad arguments are clear errors and the host keeps serving.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { hostFor, rejectionOf, tempTree } from './lib/util.mjs'
import { E2E_TOKEN, runMoonhost } from './lib/host.mjs'

const PLUGIN = `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'ex',
  setup = function(ctx)
    local function fn(def) ctx.rpc.register(moonhost.define_rpc_function(def)) end
    fn { name = 'ex:run', type = 'action', args = { 'any', 'any' }, handler = function(argv, opts)
      local r = moonhost.exec(argv, opts)
      return r
    end }
    fn { name = 'ex:ping', type = 'action', handler = function() return 'pong' end }
    -- JSON cannot carry a NUL: Lua can.
    fn { name = 'ex:nul', type = 'action', handler = function() return moonhost.exec({ 'echo', 'a\0b' }) end }
    -- Where moonhost.exec may not wait.
    fn { name = 'ex:in_sort', type = 'action', handler = function()
      local t = { 2, 1 }
      table.sort(t, function(a, b) moonhost.exec({ 'true' }) return a < b end)
    end }
  end,
}
`

async function startEx(t) {
  const root = tempTree(t, { 'sub/keep': '' })
  const host = await hostFor(t, { plugins: tempTree(t, { 'ex.lua': PLUGIN }), root })
  const { rpc, close } = await host.connect()
  t.after(close)
  return { host, rpc, root }
}

/** The live (not zombie) processes of process group pgid, from /proc. */
function groupMembers(pgid) {
  const live = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let stat
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8')
    } catch {
      continue // it ended while we looked
    }
    // after "(comm)": state, ppid, pgrp
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(pgrp) === pgid && state !== 'Z') live.push(Number(name))
  }
  return live
}

/** Resolves once no process of group pgid (a program and what it started) lives; fails after ms. */
async function waitGroupGone(pgid, ms = 5000) {
  const until = Date.now() + ms
  while (groupMembers(pgid).length) {
    if (Date.now() > until) throw new Error(`group ${pgid} still has ${groupMembers(pgid)} after ${ms} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

test('a program runs to its end: exit code, stdout, stderr; argv never goes through a shell', async (t) => {
  const { rpc, root } = await startEx(t)
  const r = await rpc.$call('ex:run', ['sh', '-c', 'echo out; echo err >&2; exit 3'])
  assert.equal(r.code, 3)
  assert.equal(r.stdout, 'out\n')
  assert.equal(r.stderr, 'err\n')
  assert.equal(r.timed_out, false)
  assert.equal(r.truncated, false)
  assert.ok(Number.isInteger(r.pid) && r.pid > 0)
  // Shell syntax in an argument is only text.
  const trap = `$(touch ${join(root, 'pwned')}); \`touch ${join(root, 'pwned')}\`; echo x > ${join(root, 'pwned')}`
  const echoed = await rpc.$call('ex:run', ['printf', '%s', trap])
  assert.equal(echoed.stdout, trap)
  assert.equal(existsSync(join(root, 'pwned')), false)
})

test('stdin, env (set and removed), cwd relative to the project root, max_output', async (t) => {
  const { rpc, root } = await startEx(t)
  assert.equal((await rpc.$call('ex:run', ['cat'], { stdin: 'line 1\nline 2\n' })).stdout, 'line 1\nline 2\n')
  assert.equal((await rpc.$call('ex:run', ['cat'], { stdin: '' })).stdout, '')
  assert.equal((await rpc.$call('ex:run', ['cat'])).stdout, '') // no stdin: /dev/null
  const env = await rpc.$call('ex:run', ['sh', '-c', 'echo "$MH_A|${HOME-unset}"'], { env: { MH_A: 'a b', HOME: false } })
  assert.equal(env.stdout, 'a b|unset\n')
  assert.equal((await rpc.$call('ex:run', ['pwd'])).stdout, root + '\n')
  assert.equal((await rpc.$call('ex:run', ['pwd'], { cwd: 'sub' })).stdout, join(root, 'sub') + '\n')
  assert.equal((await rpc.$call('ex:run', ['pwd'], { cwd: '/' })).stdout, '/\n')
  // 200 KB of output, 1000 bytes kept; the program still runs to its end.
  const big = await rpc.$call('ex:run', ['sh', '-c', 'head -c 200000 /dev/zero | tr "\\0" x; echo done >&2'], { max_output: 1000 })
  assert.equal(big.stdout, 'x'.repeat(1000))
  assert.equal(big.stderr, 'done\n')
  assert.equal(big.truncated, true)
  assert.equal(big.code, 0)
})

test('the host keeps serving while a program runs; a timeout kills the program and what it started', async (t) => {
  const { rpc } = await startEx(t)
  // The shell waits for a child that holds its stdout: the result comes only
  // once both are dead, so it coming at all says the whole group was killed.
  const slow = rpc.$call('ex:run', ['sh', '-c', 'sleep 300 & echo $!; wait'], { timeout: 1 })
  assert.equal(await rpc.$call('ex:ping'), 'pong')
  const r = await slow
  assert.equal(r.timed_out, true)
  assert.equal(r.signal, 9)
  assert.equal(r.code, undefined)
  await waitGroupGone(r.pid)
})

test('a cancelled call (its client left) kills the program', async (t) => {
  const { host, rpc } = await startEx(t)
  const other = await host.connect()
  other.rpc.$call('ex:run', ['sh', '-c', 'sleep 300 & sleep 301']).catch(() => {})
  const m = await host.waitForLog(/\[exec\] 'sh' started \(pid (\d+)\)/)
  assert.ok(groupMembers(Number(m[1])).length >= 1)
  other.close()
  await host.waitForLog(new RegExp(`'sh' \\(pid ${m[1]}\\): its call was cancelled: killed`))
  await waitGroupGone(Number(m[1]))
  assert.equal(await rpc.$call('ex:ping'), 'pong')
})

test('a host that stops kills the programs its handlers run', async (t) => {
  const { host } = await startEx(t)
  // Over HTTP, so that stopping is what ends the call, not a client leaving.
  const call = fetch(`http://127.0.0.1:${host.port}/rpc/ex/run`, {
    method: 'POST',
    headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ json: [['sh', '-c', 'sleep 300 & sleep 301']] }),
  }).catch(() => {})
  const m = await host.waitForLog(/\[exec\] 'sh' started \(pid (\d+)\)/)
  host.child.kill('SIGTERM')
  await host.exited
  await call
  assert.match(host.log, new RegExp(`'sh' \\(pid ${m[1]}\\): its call was cancelled: killed`))
  await waitGroupGone(Number(m[1]))
})

test('bad arguments and programs that cannot start are clear errors; the host keeps serving', async (t) => {
  const { rpc } = await startEx(t)
  const cases = [
    [['no-such-program-moonhost'], undefined, /cannot run 'no-such-program-moonhost': no such file or directory/],
    [[], undefined, /argv is empty/],
    ['ls', undefined, /argv must be a table/],
    [[''], undefined, /the program \(argv\[1\]\) is an empty string/],
    [['echo', 5], undefined, /argv\[2\] is number, not a string/],
    [['pwd'], { cwd: 'nope' }, /cwd .*\/nope is not a directory/],
    [['pwd'], { cwd: 3 }, /cwd must be a string/],
    [['echo'], { timout: 1 }, /unknown key 'timout'.*did you mean 'timeout'/],
    [['echo'], { timeout: -1 }, /timeout must be 0 or more/],
    [['echo'], { env: { 'A=B': 'x' } }, /env name 'A=B' is empty or holds '='/],
    [['echo'], { env: { A: 1 } }, /env A must be a string, or false to remove it/],
    [['echo'], { stdin: {} }, /stdin must be a string/],
    [['echo'], { max_output: 1e10 }, /max_output 10000000000 is over this plugin's Lua memory \(lua.memory_bytes, \d+\)/],
  ]
  for (const [argv, opts, re] of cases) {
    const err = await rejectionOf(rpc.$call('ex:run', argv, opts))
    assert.match(err.message, re, JSON.stringify(argv))
  }
  assert.match((await rejectionOf(rpc.$call('ex:nul'))).message, /argv\[2\] holds a NUL byte/)
  const sorted = await rejectionOf(rpc.$call('ex:in_sort'))
  assert.match(sorted.message, /moonhost.exec: not allowed in this context/)
  assert.equal(await rpc.$call('ex:ping'), 'pong')
})

test('moonhost test: a spec calls a handler that runs a program; the spec itself is told to use os.execute', async (t) => {
  const dir = tempTree(t, {
    'ex.lua': PLUGIN,
    'spec/ex_spec.lua': `local moonhost = require 'moonhost'
local testing = require 'moonhost.testing'
describe('ex', function()
  before_each(function() testing.load_plugin('../ex.lua') end)
  after_each(testing.reset)
  it('runs a program in a handler', function()
    local r = testing.call('ex:run', { 'sh', '-c', 'echo spec' })
    assert.are.same({ 0, 'spec\\n' }, { r.code, r.stdout })
  end)
  it('tells the spec itself what to do instead', function()
    local ok, err = pcall(moonhost.exec, { 'true' })
    assert.is_false(ok)
    assert.matches("only in a plugin's handler or setup %(a spec itself may use os.execute", err)
  end)
end)
`,
  })
  const r = await runMoonhost(['test', join(dir, 'spec'), '-o', 'TAP'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /^ok 1 - ex runs a program in a handler$/m)
  assert.match(r.stdout, /^ok 2 - ex tells the spec itself/m)
})
