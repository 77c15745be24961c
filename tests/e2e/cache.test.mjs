// The caching dispatcher: static runs once, identical concurrent queries
// share a run, cached queries are served from the cache until invalidated,
// actions are never shared or cached.
//
// Concurrency without timing: the fixture's gated handlers (cache.lua) stay
// running until `cache:expect(n)` arrivals were counted. Each client sends its
// call and then the `cache:arrive` event on the same socket, and a socket's
// frames are handled in order, so when the gate opens every call has reached
// the host while the first run was still going.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hostFor } from './lib/util.mjs'

/**
 * n connected birpc clients, each after one finished call: birpc delays a
 * client's first call by a microtask (it awaits its setup) but sends events
 * at once, so only after a first call do a call and a following event leave
 * in program order.
 */
async function clients(host, n) {
  const out = []
  for (let i = 0; i < n; i++) out.push(await host.connect())
  await Promise.all(out.map((c) => c.rpc['moonhost:functions']()))
  return out
}

const statsOf = async (c, name) => (await c.rpc['moonhost:stats']()).functions[name]

test('a static function runs once for 20 concurrent calls from 20 clients', async (t) => {
  const host = await hostFor(t)
  const control = await host.connect()
  const callers = await clients(host, 20)
  assert.equal(await control.rpc['cache:expect'](20), 20)
  const pending = callers.map((c) => {
    const p = c.rpc['cache:static']()
    c.rpc['cache:arrive'].asEvent()
    return p
  })
  const values = await Promise.all(pending)
  for (const v of values) assert.deepEqual(v, { computed: 'once', run: 1 })
  assert.equal((await control.rpc['cache:runs']()).static, 1, 'the Lua handler ran once')
  const s = await statsOf(control, 'cache:static')
  assert.equal(s.calls, 20)
  assert.equal(s.runs, 1)
  assert.equal(s.shared, 19, 'the 19 later calls joined the first run')
  assert.equal(s.errors, 0)
  // Later calls are served the kept value.
  assert.deepEqual(await control.rpc['cache:static'](), { computed: 'once', run: 1 })
  const after = await statsOf(control, 'cache:static')
  assert.equal(after.runs, 1)
  assert.equal(after.hits, 1)
  assert.equal((await control.rpc['cache:runs']()).static, 1)
})

test('identical concurrent query calls share one run; different arguments do not', async (t) => {
  const host = await hostFor(t)
  const control = await host.connect()
  const callers = await clients(host, 4)
  await control.rpc['cache:expect'](4)
  const same = callers.map((c) => c.rpc['cache:shared']('k'))
  const different = callers[0].rpc['cache:shared']('other')
  for (const c of callers) c.rpc['cache:arrive'].asEvent()
  const values = await Promise.all(same)
  const runOfK = values[0].run
  for (const v of values) assert.deepEqual(v, { key: 'k', run: runOfK })
  const other = await different
  assert.equal(other.key, 'other')
  assert.notEqual(other.run, runOfK)
  assert.equal((await control.rpc['cache:runs']()).shared, 2, 'one run for "k", one for "other"')
  const s = await statsOf(control, 'cache:shared')
  assert.equal(s.calls, 5)
  assert.equal(s.runs, 2)
  assert.equal(s.shared, 3)
  assert.equal(s.hits, 0, 'an uncached query keeps nothing')
  // Once finished, the next identical call runs again (sharing is not caching).
  assert.deepEqual(await control.rpc['cache:shared']('k'), { key: 'k', run: 3 })
})

test('a cached query is served from the cache, then recomputed after ctx.rpc.invalidate', async (t) => {
  const host = await hostFor(t)
  const a = await host.connect()
  const b = await host.connect()
  const runs = async () => (await a.rpc['cache:runs']()).cached

  assert.deepEqual(await a.rpc['cache:cached']('x'), { key: 'x', run: 1, version: 0 })
  assert.equal((await statsOf(a, 'cache:cached')).misses, 1)
  // Same arguments, from this client and from another: a hit, the handler does not run.
  assert.deepEqual(await a.rpc['cache:cached']('x'), { key: 'x', run: 1, version: 0 })
  assert.deepEqual(await b.rpc['cache:cached']('x'), { key: 'x', run: 1, version: 0 })
  assert.equal(await runs(), 1)
  let s = await statsOf(a, 'cache:cached')
  assert.equal(s.hits, 2)
  assert.equal(s.runs, 1)

  // Other arguments are another entry.
  assert.deepEqual(await a.rpc['cache:cached']('y'), { key: 'y', run: 2, version: 0 })
  assert.equal(await runs(), 2)

  // An action invalidates the whole function: both entries are recomputed.
  assert.equal(await a.rpc['cache:bump'](), 2, 'invalidate reports the entries it dropped')
  assert.deepEqual(await a.rpc['cache:cached']('x'), { key: 'x', run: 3, version: 1 })
  assert.deepEqual(await a.rpc['cache:cached']('y'), { key: 'y', run: 4, version: 1 })
  assert.deepEqual(await b.rpc['cache:cached']('x'), { key: 'x', run: 3, version: 1 })
  s = await statsOf(a, 'cache:cached')
  assert.equal(s.runs, 4)
  assert.equal(s.hits, 3)
})

test('ctx.rpc.invalidate(name, args...) drops only the entry for those arguments', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  await c.rpc['cache:cached']('x')
  await c.rpc['cache:cached']('y')
  assert.equal(await c.rpc['cache:bump']('x'), 1)
  assert.deepEqual(await c.rpc['cache:cached']('x'), { key: 'x', run: 3, version: 1 })
  assert.deepEqual(await c.rpc['cache:cached']('y'), { key: 'y', run: 2, version: 0 }, '"y" is still cached')
  assert.equal(await c.rpc['cache:bump']('not-cached'), 0)
})

test('an invalidate while a cached run is in flight: later calls start a new run, the old result is not kept', async (t) => {
  const host = await hostFor(t)
  const control = await host.connect()
  const [a, b] = await clients(host, 2)
  await control.rpc['cache:expect'](2)
  // On a's socket, in order: run 1 starts (it reads version 0 and waits on
  // the gate), then the action bumps the version and invalidates.
  const first = a.rpc['cache:slow_cached']('k')
  assert.equal(await a.rpc['cache:bump_slow'](), 0, 'nothing was cached yet')
  // After the invalidate: a new run (it reads version 1), not run 1 joined.
  const second = b.rpc['cache:slow_cached']('k')
  b.rpc['cache:arrive'].asEvent()
  a.rpc['cache:arrive'].asEvent()
  assert.deepEqual(await first, { key: 'k', run: 1, version: 0 }, 'run 1 still answers its caller')
  assert.deepEqual(await second, { key: 'k', run: 2, version: 1 })
  // What is kept is the result of the run that started after the invalidate.
  assert.deepEqual(await control.rpc['cache:slow_cached']('k'), { key: 'k', run: 2, version: 1 })
  assert.equal((await control.rpc['cache:runs']()).slow, 2)
  // The host keeps serving normally.
  assert.deepEqual(await control.rpc['cache:cached']('z'), { key: 'z', run: 1, version: 1 })
})

test('actions are never shared or cached: identical concurrent actions each run', async (t) => {
  const host = await hostFor(t)
  const control = await host.connect()
  const callers = await clients(host, 3)
  await control.rpc['cache:expect'](3)
  const pending = callers.map((c) => {
    const p = c.rpc['cache:act']('same')
    c.rpc['cache:arrive'].asEvent()
    return p
  })
  const values = await Promise.all(pending)
  assert.deepEqual(values.map((v) => v.run).sort(), [1, 2, 3])
  for (const v of values) assert.equal(v.key, 'same')
  assert.deepEqual(await control.rpc['cache:act']('same'), { key: 'same', run: 4 })
  assert.equal((await control.rpc['cache:runs']()).action, 4)
  const s = await statsOf(control, 'cache:act')
  assert.equal(s.calls, 4)
  assert.equal(s.runs, 4)
  assert.equal(s.shared, 0)
  assert.equal(s.hits, 0)
})

test('a cached entry expires after its ttl (0.05 s, waited for on the host\'s clock)', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  assert.deepEqual(await c.rpc['cache:ttl']('k'), { key: 'k', run: 1 })
  // The host sleeps 0.1 s on its own clock; the entry is older than its ttl after that.
  assert.equal(await c.rpc['cache:pause'](0.1), 0.1)
  assert.deepEqual(await c.rpc['cache:ttl']('k'), { key: 'k', run: 2 })
  assert.equal((await c.rpc['cache:runs']()).ttl, 2)
})

test('moonhost:functions reports which functions are cached', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  const fns = Object.fromEntries((await c.rpc['moonhost:functions']()).map((f) => [f.name, f]))
  assert.deepEqual(fns['cache:cached'], { name: 'cache:cached', type: 'query', cached: true, plugin: 'cache' })
  assert.deepEqual(fns['cache:shared'], { name: 'cache:shared', type: 'query', cached: false, plugin: 'cache' })
  assert.deepEqual(fns['cache:static'], { name: 'cache:static', type: 'static', cached: false, plugin: 'cache' })
  assert.deepEqual(fns['cache:act'], { name: 'cache:act', type: 'action', cached: false, plugin: 'cache' })
})
