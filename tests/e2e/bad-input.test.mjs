// Bad input over a raw socket. After each one the host must still answer a
// normal call from another client: a clear error reply or close code, a log
// line, and no harm to anyone else.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect } from 'node:net'
import { E2E_TOKEN } from './lib/host.mjs'
import { hostFor, rawClient, rejectionOf, configDir } from './lib/util.mjs'

/** The host still serves a normal call from a separate, well-behaved client. */
async function assertServing(host) {
  const c = await host.connect()
  assert.equal(await c.rpc['wire:sub'](100, 1), 99)
  c.close()
}

/**
 * Sends frame, then a probe call on the same socket; returns the frames the
 * host sent in between (frames are handled in order, so any answer to frame
 * comes before the probe's), after checking the socket still works.
 */
async function framesBefore(raw, frame, what, { m = 'wire:sub', a = [2, 1], r = 1 } = {}) {
  raw.send(frame)
  const probe = `probe after ${what}`
  raw.send({ t: 'q', i: probe, m, a })
  const before = []
  for (;;) {
    const msg = await raw.next()
    if (msg.i === probe) {
      assert.deepEqual(msg, { t: 's', i: probe, r }, `the same socket still works after ${what}`)
      return before
    }
    before.push(msg)
  }
}

const countIn = (text, re) => (text.match(new RegExp(re.source, 'g')) || []).length

/** The host's id for a raw client (cN), which its log lines carry. */
async function clientId(raw) {
  raw.send({ t: 'q', i: 'who-am-i', m: 'devtoolskit:internal:peer:announce', a: [{ role: 'bad-input' }] })
  return (await raw.replyTo('who-am-i')).r.id
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

// ---- issue #9: hardening ---------------------------------------------------

const DEPTH = 100000
const deepArray = '['.repeat(DEPTH) + ']'.repeat(DEPTH)
const deepObject = '{"a":'.repeat(DEPTH) + '1' + '}'.repeat(DEPTH)
const MiB = 1024 * 1024

/**
 * A structured-clone record frame calling values:echo with one argument nested
 * `depth` arrays deep, one record per level (as structured-clone-es writes
 * nesting: by record index, so the JSON text itself stays flat).
 */
function recordChain(id, depth) {
  const records = [
    [2, [[1, 2], [3, 4], [5, 6], [7, 8]]],
    [0, 't'], [0, 'q'], [0, 'i'], [0, id], [0, 'm'], [0, 'values:echo'], [0, 'a'],
    [1, [9]], // the argument list
  ]
  for (let level = 1; level < depth; level++) records.push([1, [records.length + 1]])
  records.push([1, []])
  return JSON.stringify(records)
}

test('nesting 100 000 levels deep (arrays, objects; JSON, record and devframe frames) is refused with bad_request, under the call id where it can be read; no stack overflow', async (t) => {
  const host = await hostFor(t)
  const raw = await rawClient(host)
  const deepRecord = (id) => `[[2,[[1,2],[3,4],[5,6],[7,8]]],[0,"t"],[0,"q"],[0,"i"],[0,"${id}"],[0,"m"],[0,"values:echo"],[0,"a"],[0,${deepArray}]]`
  const cases = [
    // [what, frame, id the reply carries (null: none can be read)]
    ['JSON arrays, id first', `{"t":"q","i":"deep-1","m":"values:echo","a":[${deepArray}]}`, 'deep-1'],
    ['JSON arrays, id last (birpc key order)', `{"m":"values:echo","a":[${deepArray}],"t":"q","i":"deep-2"}`, 'deep-2'],
    ['JSON objects', `{"t":"q","i":"deep-3","m":"values:echo","a":[${deepObject}]}`, 'deep-3'],
    ['a JSON text nested inside a record', deepRecord('deep-4'), null],
    ['a JSON text nested inside a devframe record', `s:${deepRecord('deep-5')}`, null],
    ['70 000 nested records (as deep as fits in 1 MiB)', recordChain('deep-6', 70000), 'deep-6'],
    ['70 000 nested devframe records', `s:${recordChain('deep-7', 70000)}`, 'deep-7'],
  ]
  for (const [what, frame, id] of cases) {
    assert.ok(Buffer.byteLength(frame) <= MiB, `${what}: fits in one message`)
    const started = Date.now()
    const before = await framesBefore(raw, frame, what)
    assert.ok(Date.now() - started < 5000, `${what}: answered in ${Date.now() - started} ms`)
    assert.equal(before.length, 1, `one error reply for ${what}: ${JSON.stringify(before)}`)
    const [reply] = before
    assert.equal(reply.t, 's')
    if (id !== null) assert.equal(reply.i, id, `${what}: the reply carries the call id`)
    // Structured-clone replies carry an Error record, which has no code.
    if (!(reply.e instanceof Error)) assert.equal(reply.e.code, 'bad_request')
    assert.match(reply.e.message, /^nesting deeper than 128$/, what)
    await assertServing(host)
  }
  // 100 000 records take more than a message may: the socket is closed with 1009.
  for (const prefix of ['', 's:']) {
    const frame = prefix + recordChain('deep-big', DEPTH)
    assert.ok(Buffer.byteLength(frame) > MiB)
    const big = await rawClient(host)
    big.send(frame)
    assert.equal((await big.closed).code, 1009)
    await assertServing(host)
  }
  await host.waitForLogCount(/bad frame: nesting deeper than 128/, cases.length)
})

test('huge argument arrays just under 1 MiB are served: ~200 000 numbers (echoed back), ~350 000 empty objects or strings', async (t) => {
  const host = await hostFor(t)
  const raw = await rawClient(host)
  // The largest frame passing n copies of item as one array argument.
  const frameOf = (id, method, item) => {
    const head = `{"t":"q","i":"${id}","m":"${method}","a":[[`
    const tail = ']]}'
    const n = Math.floor((MiB - head.length - tail.length + 1) / (item.length + 1))
    const frame = head + Array(n).fill(item).join(',') + tail
    assert.ok(Buffer.byteLength(frame) <= MiB && Buffer.byteLength(frame) > MiB - item.length - 1)
    return { n, frame }
  }
  const nums = frameOf('numbers', 'values:echo', '1234')
  assert.ok(nums.n > 200000)
  raw.send(nums.frame)
  const echoed = await raw.replyTo('numbers')
  assert.equal(echoed.r.length, nums.n)
  assert.ok(echoed.r.every((x) => x === 1234))
  await assertServing(host)
  for (const [id, item] of [['objects', '{}'], ['strings', '""']]) {
    const { n, frame } = frameOf(id, 'values:describe', item)
    assert.ok(n > 340000)
    raw.send(frame)
    const { r } = await raw.replyTo(id)
    assert.deepEqual([r.lua, r.is_array, r.len], ['table', true, n], id)
    await assertServing(host)
  }
})

test('ids of every JSON type: answered under the same id, refused with bad_request, or (null, false, "") run as an event, as birpc does', async (t) => {
  const host = await hostFor(t)
  const raw = await rawClient(host)
  const ids = [
    // [what, id as JSON text, expected]
    ['a string', '"id-1"', 'answered'],
    ['a 10 000-character string', JSON.stringify('i'.repeat(10000)), 'answered'],
    ['an empty string', '""', 'event'],
    ['an integer', '7', 'answered'],
    ['zero', '0', 'answered'],
    ['a negative integer', '-7', 'answered'],
    ['a float', '1.5', 'answered'],
    ['a huge number', '1e308', 'answered'],
    ['a negative huge number', '-1e308', 'answered'],
    ['an integer beyond 2^53', '9007199254740993', 'answered'],
    ['true', 'true', 'bad_request'],
    ['false', 'false', 'event'],
    ['null', 'null', 'event'],
    ['an object', '{"x":1}', 'bad_request'],
    ['an empty object', '{}', 'bad_request'],
    ['an array', '[1,"2"]', 'bad_request'],
    ['an empty array', '[]', 'bad_request'],
  ]
  let ran = 0
  for (const [what, idText, expected] of ids) {
    // wire:bump counts its runs and returns nothing (a reply without r).
    const before = await framesBefore(raw, `{"t":"q","i":${idText},"m":"wire:bump","a":[1]}`, `an id that is ${what}`)
    if (expected === 'answered') {
      assert.deepEqual(before, [{ t: 's', i: JSON.parse(idText) }], what)
      ran++
    } else if (expected === 'event') {
      assert.deepEqual(before, [], `${what}: no reply`)
      ran++
    } else {
      assert.equal(before.length, 1, `${what}: ${JSON.stringify(before)}`)
      assert.equal(before[0].i, undefined, 'an id the reply could not carry')
      assert.equal(before[0].e.code, 'bad_request')
      assert.match(before[0].e.message, /'i' must be a string or a number/)
    }
    await assertServing(host)
  }
  raw.send({ t: 'q', i: 'bumps', m: 'wire:bumps', a: [] })
  assert.equal((await raw.replyTo('bumps')).r, ran, 'answered calls and events ran, refused ones did not')
})

test('two calls in flight with the same id are both answered under it; a cancel stops the oldest one', async (t) => {
  const host = await hostFor(t)
  const raw = await rawClient(host)
  raw.send({ t: 'q', i: 'dup', m: 'sem:sleep', a: [30, 'dup-A'] })
  raw.send({ t: 'q', i: 'dup', m: 'sem:sleep', a: [30, 'dup-B'] })
  raw.send({ t: 'q', i: 'dup', m: 'sem:sleep', a: [0, 'dup-C'] })
  assert.deepEqual(await raw.next(), { t: 's', i: 'dup', r: 'slept:dup-C' })
  await host.waitForLog(/sem:sleep dup-B started/)
  const cleanups = async () => {
    raw.send({ t: 'q', i: 'cleanups', m: 'sem:cleanups', a: [] })
    return (await raw.replyTo('cleanups')).r
  }
  raw.send({ t: 'c', i: 'dup' })
  const first = await raw.next()
  assert.deepEqual([first.i, first.e.code], ['dup', 'rpc_cancelled'])
  assert.deepEqual(await cleanups(), { 'dup-C': 'finished', 'dup-A': 'cancelled' }, 'the oldest was cancelled, B still runs')
  raw.send({ t: 'c', i: 'dup' })
  const second = await raw.next()
  assert.deepEqual([second.i, second.e.code], ['dup', 'rpc_cancelled'])
  assert.deepEqual(await cleanups(), { 'dup-C': 'finished', 'dup-A': 'cancelled', 'dup-B': 'cancelled' })
  // Nothing is left under that id.
  const ignored = countIn(host.log, /cancel for no call in flight ignored/)
  assert.deepEqual(await framesBefore(raw, { t: 'c', i: 'dup' }, 'a third cancel'), [])
  await host.waitForLogCount(/cancel for no call in flight ignored/, ignored + 1)
  await assertServing(host)
})

test('replies and cancels to nothing, of every shape, are ignored with a log line; the socket keeps working', async (t) => {
  const host = await hostFor(t)
  const raw = await rawClient(host)
  const unknown = /reply to unknown call ignored/
  const badReply = /bad reply ignored/
  const noCall = /cancel for no call in flight ignored/
  const badCancel = /bad cancel ignored/
  const frames = [
    ['a reply with an error to a call never made', '{"t":"s","i":"never-asked","e":{"name":"Error","message":"late","code":"internal"}}', unknown],
    ['a reply with a numeric id never used', '{"t":"s","i":12345,"r":null}', unknown],
    ['a reply with an id the host could have used', '{"t":"s","i":"s1","r":1}', unknown],
    ['a structured-clone reply to nothing', '[[2,[[1,2],[3,4],[5,6]]],[0,"t"],[0,"s"],[0,"i"],[0,"nobody"],[0,"r"],[0,1]]', unknown],
    ['a devframe reply to nothing', 's:[[2,[[1,2],[3,4],[5,6]]],[0,"t"],[0,"s"],[0,"i"],[0,"nobody"],[0,"e"],[7,{"name":"Error","message":"x"}]]', unknown],
    ['a reply without an id', '{"t":"s","r":1}', badReply],
    ['an error reply without an id', '{"t":"s","e":{"message":"x"}}', badReply],
    ['a reply with an object id', '{"t":"s","i":{"x":1},"r":1}', badReply],
    ['a reply with id true', '{"t":"s","i":true}', badReply],
    ['a cancel for a call never made', '{"t":"c","i":"never-asked"}', noCall],
    ['a cancel with a numeric id never used', '{"t":"c","i":99}', noCall],
    ['a cancel without an id', '{"t":"c"}', badCancel],
    ['a cancel with an array id', '{"t":"c","i":[1]}', badCancel],
  ]
  for (const [what, frame, logLine] of frames) {
    const seen = countIn(host.log, logLine)
    assert.deepEqual(await framesBefore(raw, frame, what), [], `${what}: not answered`)
    await host.waitForLogCount(logLine, seen + 1)
    await assertServing(host)
  }
})

/** Sends bytes as one text message in fragments of `size` bytes, a ping between each. */
function sendFragments(ws, bytes, size) {
  for (let at = 0; at < bytes.length; at += size) {
    ws.send(bytes.subarray(at, at + size), { binary: false, fin: at + size >= bytes.length })
    ws.ping()
  }
}

test('fragmented messages: reassembled and answered; over the limit in total closes with 1009; a client gone mid-message leaves nothing behind', async (t) => {
  const host = await hostFor(t)
  const raw = await rawClient(host)
  // 37-byte fragments split the multi-byte characters between fragments.
  const text = 'héllo wörld ✓ 🌙 '.repeat(200)
  sendFragments(raw.ws, Buffer.from(JSON.stringify({ t: 'q', i: 'frag', m: 'values:echo', a: [text] })), 37)
  assert.deepEqual(await raw.replyTo('frag'), { t: 's', i: 'frag', r: text })
  // One byte a fragment, then an unfragmented message: the buffer starts afresh.
  sendFragments(raw.ws, Buffer.from(JSON.stringify({ t: 'q', i: 'bytes', m: 'wire:sub', a: [5, 2] })), 1)
  assert.deepEqual(await raw.replyTo('bytes'), { t: 's', i: 'bytes', r: 3 })
  assert.deepEqual(await framesBefore(raw, { t: 'q', i: 'whole', m: 'wire:sub', a: [9, 2] }, 'fragments'), [{ t: 's', i: 'whole', r: 7 }])
  await assertServing(host)

  // Five 256 KiB fragments: each is small, together they are over 1 MiB.
  const over = await rawClient(host)
  const chunk = Buffer.alloc(256 * 1024, 'x')
  over.ws.send(Buffer.from('{"t":"q","i":"big","m":"values:echo","a":["'), { binary: false, fin: false })
  for (let i = 0; i < 5; i++) over.ws.send(chunk, { fin: false })
  over.ws.send(Buffer.from('"]}'), { fin: true })
  assert.equal((await over.closed).code, 1009)
  await host.waitForLog(/message over 1048576 bytes refused/)
  await assertServing(host)

  // Half a message, then a close frame; half a message, then the TCP connection drops.
  for (const end of ['close', 'terminate']) {
    const half = await rawClient(host)
    const id = await clientId(half)
    half.ws.send(Buffer.from('{"t":"q","i":"half","m":"values:echo","a":["'), { binary: false, fin: false })
    half.ws.send(chunk, { fin: false })
    half.ws[end]()
    await half.closed
    await host.waitForLog(new RegExp(`\\[ws\\] ${id} disconnected`))
    await assertServing(host)
  }
})

test('a flood of 20 000 calls from one client: every call is answered (a result, or overloaded past the in-flight limit); others are served meanwhile and after', async (t) => {
  const host = await hostFor(t)
  const other = await host.connect()
  const raw = await rawClient(host)
  const N = 20000
  const replies = new Map()
  let duplicates = 0
  const all = new Promise((res) => {
    raw.ws.on('message', (data) => {
      const msg = JSON.parse(data.toString())
      if (!String(msg.i).startsWith('f')) return
      if (replies.has(msg.i)) duplicates++
      replies.set(msg.i, msg)
      if (replies.size === N) res()
    })
  })
  // Odd calls sleep (and hold an in-flight slot for 0.2 s), even ones answer at once.
  const call = (i) => (i % 2 ? { m: 'sem:sleep', a: [0.2, `f${i}`] } : { m: 'wire:sub', a: [i, 1] })
  for (let i = 0; i < N; i++) raw.ws.send(JSON.stringify({ t: 'q', i: `f${i}`, ...call(i) }))
  assert.equal(await other.rpc['wire:sub'](10, 1), 9, 'another client is served during the flood')
  const closed = await Promise.race([all.then(() => null), raw.closed])
  assert.equal(closed, null, `the flooding client was closed: ${JSON.stringify(closed)}`)
  assert.equal(duplicates, 0, 'one reply per call')
  const outcome = { ok: 0, overloaded: 0 }
  for (let i = 0; i < N; i++) {
    const msg = replies.get(`f${i}`)
    if (msg.e) {
      assert.equal(msg.e.code, 'overloaded', JSON.stringify(msg))
      outcome.overloaded++
    } else {
      assert.equal(msg.r, i % 2 ? `slept:f${i}` : i - 1)
      outcome.ok++
    }
  }
  // The first 256 (max_inflight_per_client) are always taken; 10 000 sleeps
  // of 0.2 s cannot all fit in 256 slots while 20 000 frames arrive.
  assert.ok(outcome.ok >= 256, JSON.stringify(outcome))
  assert.ok(outcome.overloaded > 0, JSON.stringify(outcome))
  // The flooding socket still works, and so does everyone else.
  raw.send({ t: 'q', i: 'after', m: 'wire:sub', a: [3, 1] })
  assert.deepEqual(await raw.replyTo('after'), { t: 's', i: 'after', r: 2 })
  assert.equal(await other.rpc['wire:sub'](20, 1), 19)
  await assertServing(host)
})

test('200 connections dropped at every stage of the handshake: the host lets go of each and keeps serving', async (t) => {
  // limits.test.mjs covers the connection cap; this is only abrupt ends.
  const host = await hostFor(t)
  const upgrade = `GET /__ws?token=${E2E_TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
  const stages = [
    '', // connect, then gone
    'GET /__w', // half a request line
    upgrade.slice(0, upgrade.indexOf('Sec-WebSocket-Key')), // half the upgrade headers
    upgrade, // a full upgrade; dropped once the host said 101
  ]
  const N = 200
  const drop = (i) => new Promise((res, rej) => {
    const stage = stages[i % stages.length]
    const s = tcpConnect(host.port, '127.0.0.1', () => {
      // Half of them end with a FIN, half with a RST.
      const end = () => (i % 8 < 4 ? s.destroy() : s.resetAndDestroy())
      if (stage !== upgrade) {
        if (stage) s.write(stage)
        end()
        return
      }
      s.write(stage)
      let got = ''
      s.on('data', (d) => {
        got += d
        if (got.includes('\r\n\r\n')) {
          if (!got.startsWith('HTTP/1.1 101')) rej(new Error(`upgrade answered ${got}`))
          end()
        }
      })
    })
    s.on('error', () => {})
    s.on('close', res)
  })
  await Promise.all(Array.from({ length: N }, (_, i) => drop(i)))
  // Every socket that was upgraded is seen to go, and none is left behind.
  const upgraded = N / stages.length
  await host.waitForLogCount(/\[ws\] c\d+ disconnected/, upgraded)
  assert.equal(countIn(host.log, /\[ws\] c\d+ connected/), upgraded)
  const health = await (await fetch(`http://127.0.0.1:${host.port}/__moonhost/health`)).json()
  assert.deepEqual([health.ok, health.clients], [true, 0])
  await assertServing(host)
})

test('every built-in function called with wrong arguments answers a result or a documented error code (never internal); the host keeps serving', async (t) => {
  // Each untrusted client here sends 27 frames at once: above the untrusted
  // rate limit (limits-2.test.mjs tests that), which is not under test here.
  const config = configDir(t, { '10-rate.lua': 'return { limits = { untrusted_calls_per_s = 1000 } }' })
  const host = await hostFor(t, { config })
  const lister = await rawClient(host)
  lister.send({ t: 'q', i: 'fns', m: 'moonhost:functions', a: [] })
  // Built-ins are the functions no plugin registered: derived from the host,
  // so new ones are covered without changing this test.
  const builtins = (await lister.replyTo('fns')).r.filter((f) => f.plugin === null).map((f) => f.name)
  for (const name of ['moonhost:functions', 'moonhost:stats', 'anonymous:devframe:auth', 'vite:anonymous:auth',
    'devframe:rpc:server-state:get', 'devframe:rpc:cacheable-functions', 'devtoolskit:internal:peer:announce',
    'devtoolskit:internal:mesh:relay', 'devtoolskit:internal:mesh:make']) {
    assert.ok(builtins.includes(name), `moonhost:functions lists ${name}`)
  }
  const garbage = {
    to: { role: 5, meta: [] }, method: {}, args: 'not a list', name: [1], role: {}, capabilities: 'x', meta: 7,
    from: 7, sig: [], timeout: 'soon', authToken: { a: 1 }, all: 'yes', nested: [1, { b: null, c: [true, 'x', { d: {} }] }],
  }
  const argLists = [[], [null], [42], ['x'], [{}], [[]], [garbage], ['z'.repeat(100 * 1024)], [garbage, garbage, 1, 'x']]
  const documented = ['not_found', 'bad_request', 'unauthorized', 'too_large', 'rpc_timeout', 'rpc_cancelled',
    'rpc_method_already_registered', 'overloaded']
  for (const name of builtins) {
    // A fresh client per function: some change the caller (auth, revoke, announce).
    for (const trusted of [true, false]) {
      const raw = await rawClient(host, trusted ? '/__ws' : '/__ws?no-token')
      for (const [k, a] of argLists.entries()) {
        const id = `${name}#${k}`
        raw.send({ t: 'q', i: id, m: name, a })
        const reply = await raw.replyTo(id)
        if (trusted && /:mesh:(un)?provide$/.test(name) && typeof (a[0]?.name ?? a[0]) !== 'string') assert.equal(reply.e?.code, 'bad_request', `${name}(${JSON.stringify(a).slice(0, 80)}): a name that is not a string`)
        if (reply.e) {
          assert.ok(documented.includes(reply.e.code), `${name}(${JSON.stringify(a).slice(0, 80)}) ${trusted ? '' : 'untrusted '}answered ${JSON.stringify(reply.e).slice(0, 300)}`)
          assert.ok(reply.e.message.length > 0)
        }
        // The same as an event (no reply wanted): nothing comes back. (The
        // probe is one an untrusted caller may make: revoke takes trust away.)
        const probe = { m: 'anonymous:devframe:auth:exchange', a: [], r: { authToken: null } }
        assert.deepEqual(await framesBefore(raw, { t: 'q', m: name, a }, `${name} as an event`, probe), [])
      }
      raw.ws.close()
    }
    await assertServing(host)
  }
})
