// Plugin faults the host must survive: a memory bomb (the per-plugin cap
// stops it), error values that are not strings, a handler broadcasting in a
// loop, __gc finalizers that loop or fail. After each, the host answers a
// normal call.
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
  reg('faults:spam', function(n)
    for i = 1, n do ctx.rpc.broadcast('faults:tick', i) end
    return n
  end)
  reg('faults:ok', function() return 'ok' end)
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

async function setup(t) {
  const config = writeTree({
    '00-test.lua': testConfigSource(),
    '10-mem.lua': 'return { lua = { memory_bytes = 16 * 1024 * 1024 } }',
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
