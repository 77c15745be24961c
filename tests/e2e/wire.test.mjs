// The birpc wire protocol with real birpc clients: positional arguments,
// events, optional calls, unknown methods, Lua errors, and the endpoints.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hostFor, rejectionOf, rawClient, deferred, tempTree, copyFixturePlugins } from './lib/util.mjs'

test('positional arguments reach the handler in order', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  assert.equal(await c.rpc['wire:sub'](10, 3), 7)
  assert.equal(await c.rpc['wire:sub'](3, 10), -7)
  assert.deepEqual(await c.rpc['wire:positional'](1, 'two', null), { a: 1, b: 'two', n: 3, joined: '1|two|nil' })
  const r = await c.rpc['wire:positional']('x', [1], { k: true })
  assert.equal(r.a, 'x')
  assert.deepEqual(r.b, [1])
  assert.deepEqual(r.c, { k: true })
  assert.equal(r.n, 3)
})

test('events run the handler and get no reply (.asEvent and $callEvent)', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  assert.equal(await c.rpc['wire:bumps'](), 0)
  await c.rpc['wire:bump'].asEvent(5)
  await c.rpc.$callEvent('wire:bump', 2)
  // Frames on one socket are handled in order: both events ran before this query.
  assert.equal(await c.rpc['wire:bumps'](), 7)
  await host.waitForLog(/wire:bump ran \(bumps=7\)/)
})

test('an event sends no reply frame', async (t) => {
  const host = await hostFor(t)
  const raw = await rawClient(host)
  raw.send({ m: 'wire:bump', a: [1], t: 'q' })
  raw.send({ m: 'wire:bumps', a: [], t: 'q', i: 'after-event' })
  const first = await raw.next()
  assert.deepEqual(first, { t: 's', i: 'after-event', r: 1 })
})

test('an event handler that broadcasts reaches the clients', async (t) => {
  const host = await hostFor(t)
  const got = deferred()
  const other = deferred()
  const c = await host.connect({ 'wire:notified': (text) => got.resolve(text) })
  await host.connect({ 'wire:notified': (text) => other.resolve(text) })
  await c.rpc['wire:notify'].asEvent('hello')
  assert.equal(await got.promise, 'notify:hello')
  assert.equal(await other.promise, 'notify:hello')
})

test('an optional call to an unknown function resolves undefined', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  assert.equal(await c.rpc.$callOptional('nope:missing', 1, 2), undefined)
  // optional does not change a call to a function that exists
  assert.equal(await c.rpc.$callOptional('wire:sub', 5, 2), 3)
  const raw = await rawClient(host)
  raw.send({ m: 'nope:missing', a: [], t: 'q', i: 'opt1', o: true })
  const reply = await raw.replyTo('opt1')
  assert.equal(reply.t, 's')
  assert.ok(!('r' in reply), `no result expected: ${JSON.stringify(reply)}`)
  assert.ok(!('e' in reply), `no error expected: ${JSON.stringify(reply)}`)
})

test('an unknown function is refused with birpc\'s message and code not_found', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  const err = await rejectionOf(c.rpc['nope:missing'](1))
  assert.equal(err.message, '[birpc] function "nope:missing" not found')
  assert.equal(err.code, 'not_found')
  assert.equal(await c.rpc['wire:sub'](2, 2), 0, 'the client still works')
})

test('a Lua error becomes {name, message, code:internal}, the traceback is logged, the next call works', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  const err = await rejectionOf(c.rpc['wire:explode']('first'))
  assert.equal(err.name, 'Error')
  assert.equal(err.code, 'internal')
  assert.match(err.message, /kaboom-first/)
  assert.doesNotMatch(err.message, /stack traceback/, 'the traceback is for the log, not the caller')
  await host.waitForLog(/kaboom-first.*stack traceback.*inner_frame_for_traceback/s)
  assert.equal(await c.rpc['wire:sub'](8, 5), 3)
  const again = await rejectionOf(c.rpc['wire:explode']('second'))
  assert.match(again.message, /kaboom-second/)
  const stats = await c.rpc['moonhost:stats']()
  assert.equal(stats.functions['wire:explode'].errors, 2)
  assert.equal(stats.functions['wire:explode'].calls, 2)
})

test('a typed moonhost.error keeps its code and data', async (t) => {
  const dir = copyFixturePlugins(['wire.lua'], tempTree(t, {
    'typed.lua': `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'typed', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'typed:check', handler = function(id)
    if type(id) ~= 'number' then
      moonhost.error { code = 'bad_request', message = 'id must be a number', data = { got = type(id) } }
    end
    return id * 2
  end })
end }
`,
  }))
  const host = await hostFor(t, { plugins: dir })
  const c = await host.connect()
  assert.equal(await c.rpc['typed:check'](21), 42)
  const err = await rejectionOf(c.rpc['typed:check']('x'))
  assert.equal(err.code, 'bad_request')
  assert.equal(err.message, 'id must be a number')
  assert.deepEqual(err.data, { got: 'string' })
})

test('both /__ws and / accept clients; another path is refused and the host keeps serving', async (t) => {
  const host = await hostFor(t)
  for (const path of ['/__ws', '/']) {
    const raw = await rawClient(host, path)
    raw.send({ m: 'wire:sub', a: [4, 1], t: 'q', i: `at ${path}` })
    assert.deepEqual(await raw.replyTo(`at ${path}`), { t: 's', i: `at ${path}`, r: 3 })
  }
  await assert.rejects(host.rawSocket('/elsewhere'))
  await assert.rejects(host.rawSocket('/__ws/extra'))
  const c = await host.connect()
  assert.equal(await c.rpc['wire:sub'](1, 1), 0)
})
