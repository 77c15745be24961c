// Bad input over a raw socket. After each one the host must still answer a
// normal call from another client: a clear error reply or close code, a log
// line, and no harm to anyone else.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hostFor, rawClient, rejectionOf } from './lib/util.mjs'

/** The host still serves a normal call from a separate, well-behaved client. */
async function assertServing(host) {
  const c = await host.connect()
  assert.equal(await c.rpc['wire:sub'](100, 1), 99)
  c.close()
}

const badFrames = [
  ['a non-JSON text frame', 'hello, host'],
  ['truncated JSON', '{"t":"q","i":"1","m":"wire:sub","a":[1,'],
  // '[' frames belong to the structured-clone codec, and its reply uses that
  // codec too (the raw client decodes it).
  ['an array that is no envelope', '[1,2]'],
  ['an empty array', '[]'],
  ['a JSON number', '42'],
  ['a JSON string', '"just a string"'],
  ['null', 'null'],
  ['an unknown envelope type', '{"t":"x"}'],
  ['an envelope without t', '{"i":"1","m":"wire:sub","a":[1,1]}'],
  ['a method that is not a string', '{"t":"q","i":"1","m":5}'],
  ['an empty method', '{"t":"q","i":"1","m":""}'],
  ['arguments that are not an array', '{"t":"q","i":"1","m":"wire:sub","a":"notarray"}'],
  ['an id that is an object', '{"t":"q","i":{"x":1},"m":"wire:sub","a":[1,1]}'],
  ['a reply to a call never made', '{"t":"s","i":"never-asked","r":1}'],
]

test('malformed frames get a bad_request reply (or are ignored) and the host keeps serving', async (t) => {
  const host = await hostFor(t)
  const raw = await rawClient(host)
  for (const [what, frame] of badFrames) {
    raw.send(frame)
    // A probe after each bad frame: frames are handled in order, so any reply
    // to the bad frame arrives before the probe's.
    const probe = `probe after ${what}`
    raw.send({ t: 'q', i: probe, m: 'wire:sub', a: [2, 1] })
    const before = []
    for (;;) {
      const msg = await raw.next()
      if (msg.i === probe) {
        assert.deepEqual(msg, { t: 's', i: probe, r: 1 }, `the same socket still works after ${what}`)
        break
      }
      before.push(msg)
    }
    if (what === 'a reply to a call never made') {
      assert.deepEqual(before, [], 'an unexpected reply is ignored')
    } else {
      assert.equal(before.length, 1, `one error reply for ${what}: ${JSON.stringify(before)}`)
      assert.equal(before[0].t, 's')
      // JSON replies carry the code; a structured-clone reply (to a frame that
      // starts with '[') is an Error record, which has no room for one.
      if (!(before[0].e instanceof Error)) assert.equal(before[0].e?.code, 'bad_request', `${what}: ${JSON.stringify(before[0])}`)
      assert.equal(typeof before[0].e.message, 'string')
      assert.ok(before[0].e.message.length > 0)
    }
    await assertServing(host)
  }
  assert.match(host.log, /bad (frame|envelope)/)
})

test('a reply to a bad envelope carries its id when it had a usable one', async (t) => {
  const host = await hostFor(t)
  const raw = await rawClient(host)
  raw.send('{"t":"q","i":"typed","m":5}')
  const reply = await raw.next()
  assert.equal(reply.i, 'typed')
  assert.equal(reply.e.code, 'bad_request')
  assert.match(reply.e.message, /'m'/)
  raw.send('{"t":"q","i":"args","m":"wire:sub","a":"notarray"}')
  const reply2 = await raw.next()
  assert.equal(reply2.i, 'args')
  assert.match(reply2.e.message, /'a'/)
})

test('a binary frame closes the socket with 1003; the host keeps serving', async (t) => {
  const host = await hostFor(t)
  const raw = await rawClient(host)
  raw.ws.send(Buffer.from('{"t":"q","i":"b","m":"wire:sub","a":[1,1]}'), { binary: true })
  const { code } = await raw.closed
  assert.equal(code, 1003)
  await host.waitForLog(/binary frame refused/)
  await assertServing(host)
})

test('a 2 MiB text frame closes the socket with 1009; the host keeps serving', async (t) => {
  const host = await hostFor(t)
  const raw = await rawClient(host)
  const big = JSON.stringify({ t: 'q', i: 'big', m: 'values:echo', a: ['x'.repeat(2 * 1024 * 1024)] })
  raw.send(big)
  const { code } = await raw.closed
  assert.equal(code, 1009)
  await host.waitForLog(/message over \d+ bytes refused/)
  await assertServing(host)
})

test('a text frame just under the limit is accepted', async (t) => {
  const host = await hostFor(t)
  const raw = await rawClient(host)
  const envelope = (s) => JSON.stringify({ t: 'q', i: 'near', m: 'values:describe', a: [s] })
  const s = 'y'.repeat(1024 * 1024 - envelope('').length)
  assert.equal(Buffer.byteLength(envelope(s)), 1024 * 1024)
  raw.send(envelope(s))
  const reply = await raw.next()
  assert.equal(reply.i, 'near')
  assert.equal(reply.r.bytes, s.length)
})

test('a handler in an infinite loop is stopped with rpc_timeout; the host stays alive', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  const err = await rejectionOf(c.rpc['guard:spin']())
  assert.equal(err.code, 'rpc_timeout')
  assert.match(err.message, /instruction/)
  assert.equal(await c.rpc['guard:ok'](), 'still here')
  await assertServing(host)
})

test('pcall cannot swallow the stop: while true do pcall(function() while true do end end) end', async (t) => {
  const host = await hostFor(t)
  const c = await host.connect()
  const err = await rejectionOf(c.rpc['guard:pcall_spin']())
  assert.equal(err.code, 'rpc_timeout')
  assert.equal(await c.rpc['guard:ok'](), 'still here')
  await assertServing(host)
})

test('while a handler spins, another client\'s call is answered once the spin is stopped', async (t) => {
  const host = await hostFor(t)
  const a = await host.connect()
  const b = await host.connect()
  const spinning = rejectionOf(a.rpc['guard:spin']())
  assert.equal(await b.rpc['guard:ok'](), 'still here')
  assert.equal((await spinning).code, 'rpc_timeout')
})
