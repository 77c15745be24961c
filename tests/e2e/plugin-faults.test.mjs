// Plugin faults the host must survive: a memory bomb (the per-plugin cap
// stops it), error values that are not strings or whose metamethods raise
// or loop, a handler broadcasting in a loop, __gc finalizers that loop or
// fail, long C library calls and xpcall handlers that would escape the
// budget, results that expand past the memory cap. After each, the host
// answers a normal call.
import test from 'node:test'
import assert from 'node:assert/strict'
import { writeTree } from './lib/host.mjs'
import { hostFor, rejectionOf, testConfigSource } from './lib/util.mjs'

const faults = `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'faults', setup = function(ctx)
  local function reg(name, fn, t) ctx.rpc.register(moonhost.define_rpc_function { name = name, type = t or 'action', handler = fn }) end
  reg('faults:bomb', function()
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end
  end)
  reg('faults:table_error', function() error({ detail = 'a table, not a string' }) end)
  reg('faults:nil_error', function() error(nil) end)
  reg('faults:userdata_error', function() error(io.stdout) end)
  -- Error values whose metamethods are plugin code that raises or loops.
  local function spin() while true do end end
  reg('faults:index_raises', function() error(setmetatable({}, { __index = function() error('boom in __index') end })) end)
  reg('faults:index_loops', function() error(setmetatable({}, { __index = spin })) end)
  reg('faults:tostring_loops', function() error(setmetatable({}, { __tostring = spin })) end)
  reg('faults:tostring_ok', function() error(setmetatable({}, { __tostring = function() return 'told by __tostring' end })) end)
  -- Long C calls and handlers the count hook cannot see.
  reg('faults:find_bomb', function() return string.find(string.rep('a', 40000), string.rep('a*', 12) .. 'b') end)
  reg('faults:plain_find_bomb', function()
    return (string.rep('a', 4000000)):find(string.rep('a', 100000) .. 'b', 1, true)
  end)
  -- Backtracking searches through each pattern function (the guard
  -- simulates liblua's search under the budget before liblua runs it),
  -- including one whose malformed end the search never reaches.
  local as = string.rep('a', 40000)
  local pattern_bombs = {
    match_trim = function() return ('x' .. (' '):rep(1 << 20) .. 'x'):match('^%s*(.-)%s*$') end,
    gmatch = function() for _ in as:gmatch(('a*'):rep(5) .. 'b') do end end,
    gsub = function() return as:gsub(('a*'):rep(5) .. 'b', '') end,
    malformed_late = function() return as:find(('a*'):rep(5) .. 'b%') end,
    big_set = function() return as:find('[' .. ('b'):rep(100000) .. 'a]*c') end,
  }
  reg('faults:pattern_bomb', function(which) return pattern_bombs[which]() end)
  -- Everyday patterns give liblua's results through the guard.
  reg('faults:patterns', function()
    local function show(...)
      local t = table.pack(...)
      for i = 1, t.n do t[i] = tostring(t[i]) end
      return table.concat(t, ',')
    end
    local words = {}
    for w in ('one two  three'):gmatch('%a+') do words[#words + 1] = w end
    local pairs_ = {}
    for k, v in ('a=1, b=2, c=3'):gmatch('(%w+)=(%w+)') do pairs_[#pairs_ + 1] = k .. v end
    local empties = 0
    for _ in ('abc'):gmatch('x*') do empties = empties + 1 end
    local r = {
      show(('hello world'):find('o w')),
      show(('hello world'):find('l+')),
      show(('hello world'):find('l', 5)),
      show(('hello world'):find('.', 1, true)),
      show(('hello'):find('l', -2)),
      show(('hello'):find('x')),
      show(('key = val'):match('(%w+)%s*=%s*(%w+)')),
      show(('  trim me  '):match('^%s*(.-)%s*$')),
      show(('f(a(b)c) d'):match('%b()')),
      show(('THE (quick) fox'):gsub('%f[%a]%a+', 'W')),
      show(('abc'):gsub('%w*', '-')),
      show(('hello world'):gsub('o', '0', 1)),
      show(('abc'):gsub('', '.')),
      show(('x = 1'):gsub('(%w+) = (%w+)', '%2 = %1')),
      show(('abc'):gsub('%w', { a = 'A' })),
      show(('abc'):gsub('%w', function(c) return c:upper() end)),
      show(('aXb'):match('()X()')),
      show(('xaab'):find('(a)%1')),
      table.concat(words, '/'), table.concat(pairs_, '/'), tostring(empties),
      show(pcall(string.find, 'a', '(a')),
      show(pcall(string.find, 'abc', 'x%')),
      show(pcall(string.find, 'abc', 'a%')),
      show(pcall(string.gsub, 'abc', '[a', '')),
    }
    return table.concat(r, '|')
  end)
  reg('faults:move_huge', function() return #table.move({}, 1, 1 << 40, 2) end)
  reg('faults:rep_loop', function()
    for _ = 1, 1e9 do local _ = string.rep('x', 4 * 1024 * 1024) end
  end)
  reg('faults:xpcall_loop', function(from_hook)
    return xpcall(function() if from_hook then spin() else error('x') end end, spin)
  end)
  reg('faults:traceback', function()
    local ok, msg = xpcall(function() error('deep') end, debug.traceback)
    return not ok and msg:match('deep') ~= nil and msg:match('stack traceback') ~= nil
  end)
  reg('faults:shared_bomb', function(levels)
    local t = { 'leaf' }
    for _ = 1, levels do t = { t, t } end
    return t
  end)
  reg('faults:shared_error', function(levels)
    local t = { 'leaf' }
    for _ = 1, levels do t = { t, t } end
    error(moonhost.error { code = 'bad_request', message = 'with data', data = t })
  end)
  reg('faults:spam', function(n)
    for i = 1, n do ctx.rpc.broadcast('faults:tick', i) end
    return n
  end)
  reg('faults:ok', function() return 'ok' end)
  -- Spins in short runs with a wait between them: no single run is long,
  -- the call as a whole never ends.
  reg('faults:yielding_spin', function()
    local i = 0
    while true do
      i = i + 1
      if i % 20000 == 0 then moonhost.sleep(0) end
    end
  end)
  -- Waits until cancelled; then an on_cancel callback or a to-be-closed
  -- variable that never ends.
  reg('faults:cancel_spin', function(where)
    if where == 'on_cancel' then moonhost.on_cancel(function() while true do end end) end
    local guard <close> = setmetatable({}, { __close = function()
      if where == 'close' then while true do end end
    end })
    moonhost.sleep(60)
  end)

  -- __gc finalizers. Garbage is made in a function of its own: a dead
  -- temporary in the handler's frame would keep its last object alive.
  local finalized, kept = 0, nil
  local function looping(how)
    local mt = { __gc = function() while true do end end }
    return how == 'debug' and debug.setmetatable({}, mt) or setmetatable({}, mt)
  end
  local function garbage(n, how) for _ = 1, n do looping(how) end end
  reg('faults:gc_loop', function(how, n)
    garbage(n, how)
    collectgarbage()
    return 'collected'
  end)
  reg('faults:gc_keep', function() kept = looping() return kept ~= nil end)
  local function counted(n)
    local mt = { __gc = function() finalized = finalized + 1 end }
    for _ = 1, n do
      local t = {}
      assert(setmetatable(t, mt) == t and getmetatable(t) == mt)
    end
  end
  reg('faults:gc_good', function(n)
    counted(n)
    collectgarbage()
    return true
  end)
  reg('faults:gc_count', function() return finalized end)
  reg('faults:gc_error', function()
    (function()
      setmetatable({}, { __gc = function() error('finalizer boom') end })
      setmetatable({}, { __gc = function() coroutine.yield() end })
    end)()
    collectgarbage()
    return true
  end)
end }
`

async function setup(t, lua = '') {
  const config = writeTree({
    '00-test.lua': testConfigSource(),
    '10-mem.lua': `return { lua = { memory_bytes = 16 * 1024 * 1024 ${lua} } }`,
  })
  const host = await hostFor(t, { plugins: writeTree({ 'faults.lua': faults }), config })
  return { host, c: await host.connect({ 'faults:tick': () => {} }) }
}

test('a memory bomb hits the plugin memory cap: a clear error, and the plugin keeps serving', async (t) => {
  const { c } = await setup(t)
  const err = await rejectionOf(c.rpc['faults:bomb']())
  assert.equal(err.code, 'internal')
  assert.match(err.message, /memory limit .* \(lua\.memory_bytes\)/)
  assert.equal(await c.rpc['faults:ok'](), 'ok')
})

test('errors that are tables, nil or userdata become error replies with a message', async (t) => {
  const { c } = await setup(t)
  for (const name of ['faults:table_error', 'faults:nil_error', 'faults:userdata_error']) {
    const err = await rejectionOf(c.rpc[name]())
    assert.equal(err.code, 'internal', name)
    assert.equal(typeof err.message, 'string', name)
    assert.ok(err.message.length > 0, name)
  }
  assert.equal(await c.rpc['faults:ok'](), 'ok')
})

test('a handler broadcasting 20 000 events in a loop does not take the host down', async (t) => {
  const { host, c } = await setup(t)
  assert.equal(await c.rpc['faults:spam'](20000), 20000)
  const other = await host.connect()
  assert.equal(await other.rpc['faults:ok'](), 'ok')
})

const gcStopped = /\[plugin\] faults: a __gc finalizer \(.*\) ran past its budget/

test('an on_cancel callback or a __close that loops after a cancel is stopped; the host keeps serving', async (t) => {
  const { host, c } = await setup(t)
  const raw = await host.rawSocket()
  const replies = new Map()
  raw.on('message', (d) => {
    const m = JSON.parse(d.toString())
    replies.get(m.i)?.(m)
  })
  const answer = (id) => new Promise((res) => replies.set(id, res))
  for (const where of ['on_cancel', 'close']) {
    const id = `spin-${where}`
    const reply = answer(id)
    raw.send(JSON.stringify({ t: 'q', i: id, m: 'faults:cancel_spin', a: [where] }))
    // Frames are handled in order: once the probe is answered, the spin call
    // is waiting in moonhost.sleep.
    const probe = answer(`probe-${where}`)
    raw.send(JSON.stringify({ t: 'q', i: `probe-${where}`, m: 'faults:ok', a: [] }))
    assert.equal((await probe).r, 'ok')
    raw.send(JSON.stringify({ t: 'c', i: id }))
    assert.equal((await reply).e?.code, 'rpc_cancelled')
    assert.equal(await c.rpc['faults:ok'](), 'ok')
  }
  await host.waitForLog(/on_cancel callback failed: .*budget/)
  const other = await host.connect()
  assert.equal(await other.rpc['faults:ok'](), 'ok')
})

test('a __gc finalizer that loops is stopped and logged; the call, the plugin and other clients are answered', async (t) => {
  const { host, c } = await setup(t)
  // Three looping finalizers in one collection: the first is stopped, the
  // other two skipped (they share one budget per loop turn). The call that
  // collected is not charged for them: it returns its result.
  assert.equal(await c.rpc['faults:gc_loop']('setmetatable', 3), 'collected')
  await host.waitForLog(gcStopped)
  assert.equal(await c.rpc['faults:ok'](), 'ok')
  const other = await host.connect()
  assert.equal(await other.rpc['faults:ok'](), 'ok')
  // debug.setmetatable is guarded the same way (a later loop turn: a new budget).
  assert.equal(await other.rpc['faults:gc_loop']('debug', 1), 'collected')
  await host.waitForLogCount(gcStopped, 2)
  assert.equal(await c.rpc['faults:ok'](), 'ok')
})

test('a looping __gc still due when the host stops does not keep it from exiting', async (t) => {
  const { host, c } = await setup(t)
  assert.equal(await c.rpc['faults:gc_keep'](), true)
  await host.stop() // the plugin's Lua state closes: every pending finalizer runs
  assert.match(host.log, gcStopped)
})

test('well-behaved __gc finalizers still run; one that fails or yields is logged', async (t) => {
  const { host, c } = await setup(t)
  assert.equal(await c.rpc['faults:gc_good'](5), true)
  assert.equal(await c.rpc['faults:gc_count'](), 5)
  assert.equal(await c.rpc['faults:gc_error'](), true)
  await host.waitForLog(/\[plugin\] faults: a __gc finalizer \(.*\) failed: .*finalizer boom/)
  await host.waitForLog(/\[plugin\] faults: a __gc finalizer \(.*\) yielded; the rest of it does not run/)
  assert.doesNotMatch(host.log, gcStopped)
  assert.equal(await c.rpc['faults:gc_count'](), 5)
})

// The budgets these tests run under: stopped by the instruction count with a
// wall limit far away, or by the wall limit with a count far away, so a stop
// shows which limit worked (before the guards, these calls never returned).
// The count is a tenth of the default so that rep_loop's 4 MiB strings (one
// charged 131k instructions) stop after ~76 of them: at the default, ~760
// under ASan on a loaded machine outlast the client's 20 s timeout.
const countOnly = ', max_run_ms = 600000, instruction_budget = 10000000'
const timeOnly = ', max_run_ms = 300, instruction_budget = 1 << 50'
const byCount = /call stopped after \d+ instructions \(lua\.instruction_budget\)/
const byTime = /call stopped after running 300 ms without waiting \(lua\.max_run_ms\)/

test('error values whose __index raises or loops, or whose __tostring loops, give error replies', { timeout: 30000 }, async (t) => {
  const { host, c } = await setup(t, timeOnly)
  // The host reads the fields raw: __index is never called.
  for (const name of ['faults:index_raises', 'faults:index_loops']) {
    const err = await rejectionOf(c.rpc[name]())
    assert.equal(err.code, 'internal', name)
    assert.equal(err.message, 'error', name)
    assert.equal(await c.rpc['faults:ok'](), 'ok')
  }
  // __tostring runs (it makes the message), under the call's budget.
  const err = await rejectionOf(c.rpc['faults:tostring_loops']())
  assert.equal(err.code, 'internal')
  assert.match(err.message, /reading its error value failed too: .*stopped: the call ran past its budget/)
  await host.waitForLog(/\[plugin\] faults: faults:tostring_loops: internal: faults: the call failed, and reading its error value failed too/)
  const told = await rejectionOf(c.rpc['faults:tostring_ok']())
  assert.equal(told.message, 'told by __tostring')
  const other = await host.connect()
  assert.equal(await other.rpc['faults:ok'](), 'ok')
})

test('long C library calls are charged to the instruction budget', { timeout: 60000 }, async (t) => {
  const { host, c } = await setup(t, countOnly)
  for (const name of ['faults:find_bomb', 'faults:plain_find_bomb', 'faults:move_huge', 'faults:rep_loop']) {
    const err = await rejectionOf(c.rpc[name]())
    assert.equal(err.code, 'rpc_timeout', name)
    assert.match(err.message, byCount, name)
    assert.equal(await c.rpc['faults:ok'](), 'ok')
  }
  await host.waitForLog(/\[plugin\] faults: faults:[a-z_]+: rpc_timeout: .*lua\.instruction_budget/)
})

test('the wall-time limit stops a backtracking pattern and xpcall handlers that loop', { timeout: 60000 }, async (t) => {
  const { host, c } = await setup(t, timeOnly)
  for (const [name, args] of [['faults:find_bomb', []], ['faults:xpcall_loop', [false]], ['faults:xpcall_loop', [true]]]) {
    const err = await rejectionOf(c.rpc[name](...args))
    assert.equal(err.code, 'rpc_timeout', `${name} ${args}`)
    assert.match(err.message, byTime, `${name} ${args}`)
    assert.equal(await c.rpc['faults:ok'](), 'ok')
  }
  // The message handler still works as before when nothing is stopped.
  assert.equal(await c.rpc['faults:traceback'](), true)
  const other = await host.connect()
  assert.equal(await other.rpc['faults:ok'](), 'ok')
})

// Each would run for hours inside liblua: the quadratic trim on 1 MiB of
// spaces between two letters, ("a*"):rep(5) .. "b" through gmatch and
// gsub, the same with a malformed end ("b%") that the search never
// reaches, and a 100 kB set tested at every step.
const patternBombs = ['match_trim', 'gmatch', 'gsub', 'malformed_late', 'big_set']

test('backtracking searches of every pattern function are stopped by the instruction count or the wall time', { timeout: 120000 }, async (t) => {
  for (const [limits, stopped] of [[countOnly, byCount], [timeOnly, byTime]]) {
    const { c } = await setup(t, limits)
    for (const which of patternBombs) {
      const err = await rejectionOf(c.rpc['faults:pattern_bomb'](which))
      assert.equal(err.code, 'rpc_timeout', which)
      assert.match(err.message, stopped, which)
      assert.equal(await c.rpc['faults:ok'](), 'ok')
    }
  }
})

// What lua5.4 prints for the same code, unguarded.
const patternResults = [
  '5,7', '3,4', '10,10', 'nil', '4,4', 'nil', 'key,val', 'trim me', '(a(b)c)', 'W (W) W,3', '-,1',
  'hell0 world,1', '.a.b.c.,4', '1 = x,1', 'Abc,3', 'ABC,3', '2,3', '2,3,a', 'one/two/three', 'a1/b2/c3', '4',
  'false,unfinished capture', 'true,nil', "false,malformed pattern (ends with '%')",
  "false,malformed pattern (missing ']')",
].join('|')

test('the guarded pattern functions give liblua\'s results', async (t) => {
  const { c } = await setup(t)
  assert.equal(await c.rpc['faults:patterns'](), patternResults)
})

test('a result or error data built from shared subtables is refused past the memory cap', { timeout: 60000 }, async (t) => {
  const { host, c } = await setup(t)
  // 2^21 leaves: about 100 MB as values, from a few kilobytes of Lua.
  const err = await rejectionOf(c.rpc['faults:shared_bomb'](20))
  assert.equal(err.code, 'internal')
  assert.match(err.message, /cannot send the result: a value over 16777216 bytes once converted .*lua\.memory_bytes/)
  await host.waitForLog(/\[plugin\] faults: cannot send the result: a value over/)
  const typed = await rejectionOf(c.rpc['faults:shared_error'](20))
  assert.equal(typed.code, 'bad_request')
  assert.equal(typed.data, undefined)
  // Small sharing is fine: 2^4 copies.
  assert.equal(JSON.stringify(await c.rpc['faults:shared_bomb'](4)).split('leaf').length - 1, 16)
  assert.equal(await c.rpc['faults:ok'](), 'ok')
})

// docs/security.md "Values the host reads from a plugin": results and
// arguments are converted with raw access only.
const hostileValues = `local moonhost = require 'moonhost'
local function spin() while true do end end
local mt = { __index = function() error('__index ran') end, __newindex = function() error('__newindex ran') end,
  __pairs = spin, __len = function() error('__len ran') end, __eq = function() error('__eq ran') end,
  __tostring = spin, __name = 'hostile', __close = spin, __call = spin }
local function hostile(t) return setmetatable(t, mt) end
return moonhost.plugin { name = 'hv', setup = function(ctx)
  local function reg(name, fn) ctx.rpc.register(moonhost.define_rpc_function { name = name, type = 'action', handler = fn }) end
  reg('hv:result', function() return hostile({ a = 1, list = hostile({ 1, 2, 3 }), nested = hostile({ b = hostile({}) }) }) end)
  reg('hv:error_data', function() moonhost.error { code = 'bad_request', message = 'with data', data = hostile({ k = hostile({ 'v' }) }) } end)
  reg('hv:broadcast', function() return ctx.rpc.broadcast('hv:pushed', hostile({ x = hostile({ 1 }) })) end)
  reg('hv:echo', function(v) return v end)
end }
`

test('results, error data and broadcast arguments with metatables that raise or loop are read raw', { timeout: 30000 }, async (t) => {
  const config = writeTree({ '00-test.lua': testConfigSource(), '10-budget.lua': `return { lua = { max_run_ms = 2000 } }` })
  const host = await hostFor(t, { plugins: writeTree({ 'hv.lua': hostileValues }), config })
  let pushed
  const got = new Promise((res) => (pushed = res))
  const c = await host.connect({ 'hv:pushed': (v) => pushed(v) })
  assert.deepEqual(await c.rpc['hv:result'](), { a: 1, list: [1, 2, 3], nested: { b: {} } })
  const err = await rejectionOf(c.rpc['hv:error_data']())
  assert.equal(err.code, 'bad_request')
  assert.deepEqual(err.data, { k: ['v'] })
  assert.equal(await c.rpc['hv:broadcast'](), 1)
  assert.deepEqual(await got, { x: [1] })
  assert.equal(await c.rpc['hv:echo']('fine'), 'fine')
})

test('the instruction budget counts all the resumes of a call together: a handler that spins between short waits is stopped', { timeout: 60000 }, async (t) => {
  const { host, c } = await setup(t, countOnly)
  const err = await rejectionOf(c.rpc['faults:yielding_spin']())
  assert.equal(err.code, 'rpc_timeout')
  assert.match(err.message, byCount)
  await host.waitForLog(/faults:yielding_spin.*call stopped after \d+ instructions/)
  assert.equal(await c.rpc['faults:ok'](), 'ok')
})
