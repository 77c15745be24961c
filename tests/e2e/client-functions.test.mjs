// The host calling functions that clients provide: broadcast (fire and
// forget), broadcast_call (one result per client), call_client (one client).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { configDir, hostFor, rawClient, deferred } from './lib/util.mjs'

/** A birpc client with a label, recording the client functions it receives. */
async function labelled(host, label, extra = {}) {
  const received = []
  const message = deferred()
  const functions = {
    'client:label': () => label,
    'client:message': (...args) => {
      received.push(args)
      message.resolve(args)
    },
    'client:answer': (x) => `${label}:${x}`,
    'client:poke': (what) => {
      received.push(['poke', what])
      return `${label} got ${what}`
    },
    ...extra,
  }
  const c = await host.connect(functions)
  return { ...c, label, received, message: message.promise }
}

/** { label: client id } via the host asking every client for its label. */
async function idsByLabel(client) {
  const labels = await client.rpc['clients:labels']()
  return Object.fromEntries(Object.entries(labels).map(([id, label]) => [label, id]))
}

test('a broadcast reaches each of 3 clients and reports count 3', async (t) => {
  const host = await hostFor(t)
  const [a, b, c] = [await labelled(host, 'A'), await labelled(host, 'B'), await labelled(host, 'C')]
  const count = await a.rpc['clients:shout']('client:message', 'hi all', { n: 1 })
  assert.equal(count, 3)
  for (const client of [a, b, c]) assert.deepEqual(await client.message, ['hi all', { n: 1 }])
  for (const client of [a, b, c]) assert.equal(client.received.length, 1)
})

test('a client without the broadcast function ignores it: it is sent as optional, no error, the client keeps working', async (t) => {
  const host = await hostFor(t)
  const bare = await host.connect({}) // has no client functions at all
  const b = await labelled(host, 'B')
  const raw = await rawClient(host)
  const count = await bare.rpc['clients:shout']('client:message', 'to whoever has it')
  assert.equal(count, 3)
  assert.deepEqual(await b.message, ['to whoever has it'])
  // What was sent: an optional event (no id, so no reply is expected).
  const frame = await raw.next()
  assert.deepEqual(frame, { m: 'client:message', a: ['to whoever has it'], t: 'q', o: true })
  assert.ok(!('i' in frame))
  // The client without the function is unaffected, and so is the host.
  assert.equal(await bare.rpc['wire:sub'](3, 2), 1)
  assert.doesNotMatch(host.log, /\berror\b.*client:message/)
})

test('broadcast_call with 3 clients collects 3 results, including an error from a client whose handler throws', async (t) => {
  const host = await hostFor(t)
  const a = await labelled(host, 'A')
  await labelled(host, 'B')
  await labelled(host, 'C', {
    'client:answer': () => {
      throw new Error('C refuses')
    },
  })
  const ids = await idsByLabel(a)
  assert.deepEqual(Object.keys(ids).sort(), ['A', 'B', 'C'])

  const results = await a.rpc['clients:gather']('client:answer', [5])
  assert.ok(Array.isArray(results))
  assert.equal(results.length, 3)
  const byClient = Object.fromEntries(results.map((r) => [r.client, r]))
  assert.deepEqual(Object.keys(byClient).sort(), [ids.A, ids.B, ids.C].sort())
  assert.deepEqual(byClient[ids.A], { client: ids.A, ok: true, value: 'A:5' })
  assert.deepEqual(byClient[ids.B], { client: ids.B, ok: true, value: 'B:5' })
  const failed = byClient[ids.C]
  assert.equal(failed.ok, false)
  assert.ok(!('value' in failed))
  assert.equal(typeof failed.error, 'object')
  assert.equal(typeof failed.error.message, 'string')
  assert.equal(typeof failed.error.code, 'string')
})

test('broadcast_call passes several arguments and a filter selects the clients', async (t) => {
  const host = await hostFor(t)
  const join = (...args) => args.join('+')
  const a = await labelled(host, 'A', { 'client:join': join })
  await labelled(host, 'B', { 'client:join': join })
  const ids = await idsByLabel(a)
  const all = await a.rpc['clients:gather']('client:join', [1, 'x', true])
  assert.deepEqual(all.map((r) => r.value), ['1+x+true', '1+x+true'])
  const onlyB = await a.rpc['clients:gather']('client:answer', ['f'], { only: ids.B })
  assert.deepEqual(onlyB, [{ client: ids.B, ok: true, value: 'B:f' }])
})

test('broadcast_call reports a client that does not answer in time as rpc_timeout', async (t) => {
  const host = await hostFor(t)
  const a = await labelled(host, 'A')
  await labelled(host, 'Silent', { 'client:answer': () => new Promise(() => {}) })
  const ids = await idsByLabel(a)
  const results = await a.rpc['clients:gather']('client:answer', [1], { timeout: 0.2 })
  const byClient = Object.fromEntries(results.map((r) => [r.client, r]))
  assert.deepEqual(byClient[ids.A], { client: ids.A, ok: true, value: 'A:1' })
  assert.equal(byClient[ids.Silent].ok, false)
  assert.equal(byClient[ids.Silent].error.code, 'rpc_timeout')
})

test('call_client(id, name, ...) reaches exactly that client', async (t) => {
  const host = await hostFor(t)
  const a = await labelled(host, 'A')
  const b = await labelled(host, 'B')
  const c = await labelled(host, 'C')
  const ids = await idsByLabel(a)
  const list = await a.rpc['clients:list']()
  assert.deepEqual(list.map((x) => x.id).sort(), Object.values(ids).sort())
  for (const x of list) assert.equal(x.trusted, true)

  assert.deepEqual(await a.rpc['clients:call'](ids.B, 'client:poke', 'p1'), { ok: true, value: 'B got p1' })
  assert.deepEqual(b.received, [['poke', 'p1']])
  assert.deepEqual(a.received, [])
  assert.deepEqual(c.received, [])

  // The caller itself can be called back while its own call is running.
  assert.deepEqual(await a.rpc['clients:call'](ids.A, 'client:poke', 'self'), { ok: true, value: 'A got self' })
  assert.deepEqual(a.received, [['poke', 'self']])
  assert.deepEqual(c.received, [])
})

test('call_client to an unknown client or an unknown function fails with a catchable error', async (t) => {
  const host = await hostFor(t)
  const a = await labelled(host, 'A')
  const ids = await idsByLabel(a)
  const gone = await a.rpc['clients:call']('no-such-client', 'client:poke', 'x')
  assert.equal(gone.ok, false)
  assert.equal(gone.error.code, 'not_found')
  // birpc answers an unknown function with an error; over plain JSON an Error
  // object loses its message, so only the failure itself is checked.
  const missing = await a.rpc['clients:call'](ids.A, 'client:nothing-here')
  assert.equal(missing.ok, false)
  assert.equal(typeof missing.error.code, 'string')
  assert.equal(typeof missing.error.message, 'string')
})

test('moonhost:stats counts connected clients', async (t) => {
  const host = await hostFor(t)
  const a = await labelled(host, 'A')
  const b = await labelled(host, 'B')
  const ids = await idsByLabel(a)
  assert.equal((await a.rpc['moonhost:stats']()).clients, 2)
  b.close()
  await b.closed
  await host.waitForLog(new RegExp(`\\b${ids.B} disconnected`))
  assert.equal((await a.rpc['moonhost:stats']()).clients, 1)
})

test("a client's answer the host cannot read (a \\u0000 in a string) fails the host's call at once with the reason, not at its timeout", async (t) => {
  const host = await hostFor(t)
  const raw = await rawClient(host)
  raw.send({ t: 'q', i: 'ask-1', m: 'sem:ask_client', a: ['c:nul'] })
  const asked = await raw.next()
  assert.equal(asked.m, 'c:nul')
  raw.send(`{"t":"s","i":${JSON.stringify(asked.i)},"r":"a\\u0000b"}`)
  const answer = await raw.next()
  assert.equal(answer.i, 'ask-1')
  assert.equal(answer.r.ok, false)
  assert.equal(answer.r.error.code, 'bad_request')
  assert.match(answer.r.error.message, /answer of client \S+ to "c:nul" was refused: unsupported \\u0000/)
  // Nothing was sent back for the broken answer itself, and the socket still works.
  raw.send({ t: 'q', i: 'ask-2', m: 'wire:sub', a: [3, 2] })
  assert.deepEqual(await raw.next(), { t: 's', i: 'ask-2', r: 1 })
})

test('limits.call_timeout_ms bounds a call to a client that never answers (no timeout given): rpc_timeout, and the host keeps serving', async (t) => {
  const config = configDir(t, { '10-timeout.lua': 'return { limits = { call_timeout_ms = 300 } }' })
  const host = await hostFor(t, { config })
  const a = await labelled(host, 'A')
  await labelled(host, 'Silent', { 'client:answer': () => new Promise(() => {}) })
  const ids = await idsByLabel(a)
  const started = Date.now()
  const r = await a.rpc['clients:call'](ids.Silent, 'client:answer', 1)
  const ms = Date.now() - started
  assert.equal(r.ok, false)
  assert.equal(r.error.code, 'rpc_timeout')
  assert.ok(ms >= 250 && ms < 5000, `answered after ${ms} ms`)
  const all = await a.rpc['clients:gather']('client:answer', [2])
  assert.deepEqual(all.map((x) => (x.ok ? x.value : x.error.code)).sort(), ['A:2', 'rpc_timeout'])
})
