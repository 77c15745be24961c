// The structured-clone codecs with the real structured-clone-es (2.0.1, what
// @vitejs/devtools-rpc 0.1.x and devframe 1.3.x use): record arrays ("[[...")
// and devframe's "s:" prefix. Values beyond JSON go through Lua and back, each
// reply uses the codec of its request, and bad frames get bad_request.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { parse, stringify } from 'structured-clone-es'
import { startHost, nextMessage } from './lib/host.mjs'

const CODECS = [
  { name: 'records', prefix: '' },
  { name: 'devframe s:', prefix: 's:' },
]

let host
before(async () => {
  host = await startHost()
})
after(() => host.stop())

/** Sends msg in codec c and returns the next frame, checked to be in c too, decoded. */
async function roundTrip(ws, c, msg) {
  const reply = nextMessage(ws)
  ws.send(c.prefix + stringify(msg))
  return decodeIn(c, await reply)
}

function decodeIn(c, frame) {
  if (c.prefix) assert.ok(frame.startsWith('s:'), `reply not in devframe form: ${frame}`)
  else assert.equal(frame[0], '[', `reply not a record array: ${frame}`)
  return parse(frame.slice(c.prefix.length))
}

// Every type structured-clone carries; undefined only inside containers,
// since a top-level argument that is undefined reaches Lua as nil.
const values = () => [
  new Date(0),
  new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789)),
  new Map([['a', 1], [2, { b: [true] }], [{ k: 'object key' }, null]]),
  new Set([1, 'x', 5n]),
  5n,
  -123456789012345678901234567890n,
  /ab+c/gi,
  new Error('boom'),
  { u: undefined, list: [undefined, null], nested: { d: new Date(-1) } },
  NaN,
  Infinity,
  -Infinity,
  -0,
  new Uint8Array([0, 1, 255]),
  new Float64Array([0.5, -2]),
  'héllo 𝄞',
  [],
  {},
]

for (const c of CODECS) {
  test(`${c.name}: types:echo gives back what the wire carried`, async () => {
    const ws = await host.rawSocket()
    const args = values()
    const reply = await roundTrip(ws, c, { m: 'types:echo', a: args, t: 'q', i: 'echo-1' })
    assert.equal(reply.t, 's')
    assert.equal(reply.i, 'echo-1')
    assert.equal(reply.e, undefined, JSON.stringify(reply.e))
    // JSON has no NaN, infinities or -0: the client itself sends them as null
    // and 0 (stringify is JSON.stringify underneath), so that is what comes back.
    const carried = parse(stringify(args))
    assert.deepStrictEqual(carried.slice(9, 13), [null, null, null, 0])
    assert.deepStrictEqual(reply.r, carried)
    // The rest is exactly the input.
    assert.deepStrictEqual(reply.r.slice(0, 9), args.slice(0, 9))
    assert.deepStrictEqual(reply.r.slice(13), args.slice(13))
    ws.close()
  })

  test(`${c.name}: types:inspect sees the documented Lua representations`, async () => {
    const ws = await host.rawSocket()
    const args = [
      new Date(0),
      5n,
      new Map([['a', 1]]),
      new Set([1]),
      /x+/g,
      new TypeError('bad'),
      [undefined, null],
      new Uint8Array([1, 2]),
      1.5,
      7,
      NaN,
    ]
    const reply = await roundTrip(ws, c, { m: 'types:inspect', a: args, t: 'q', i: 'insp' })
    assert.deepStrictEqual(reply.r, [
      'Date:0',
      'BigInt:5',
      'Map:1{string:a=>integer:1}',
      'Set:1{integer:1}',
      'RegExp:/x+/g',
      'JsError:Error:bad', // structured-clone sends every error as "Error"
      'array[undefined,null]',
      'TypedArray:Uint8Array:1,2',
      'float:1.5',
      'integer:7',
      'nil', // NaN went out as null, and a top-level null is nil
    ])
    ws.close()
  })

  test(`${c.name}: a -0 written as -0 reaches Lua as -0`, async () => {
    // JSON.stringify writes -0 as 0; a record holding -0 (JSON.parse keeps it) arrives intact.
    const ws = await host.rawSocket()
    const frame = stringify({ m: 'types:inspect', a: [0.5], t: 'q', i: 'mz' }).replace('[0,0.5]', '[0,-0]')
    const reply = nextMessage(ws)
    ws.send(c.prefix + frame)
    assert.deepStrictEqual(decodeIn(c, await reply).r, ['-0'])
    ws.close()
  })

  test(`${c.name}: values built in Lua arrive as JavaScript values`, async () => {
    const ws = await host.rawSocket()
    const reply = await roundTrip(ws, c, { m: 'types:make', a: [], t: 'q', i: 'make' })
    const r = reply.r
    assert.deepStrictEqual(r[0], new Date('2024-02-29T12:34:56.789Z'))
    assert.ok(r[1] instanceof Date && Number.isNaN(r[1].getTime()), 'an invalid Date stays invalid')
    assert.equal(r[2], 123456789012345678901234567890n)
    assert.deepStrictEqual(r[3], new Map([['k', new Set([1, 2])], [2, undefined]]))
    assert.deepStrictEqual(r[4], /a+/g)
    assert.ok(r[5] instanceof TypeError)
    assert.equal(r[5].message, 'nope')
    assert.deepStrictEqual(r[6], new Uint8Array([1, 44])) // 300 stored as a Uint8Array does
    assert.deepStrictEqual(r[7], { u: undefined, n: null })
    assert.ok(Object.hasOwn(r[7], 'u'))
    // NaN and the infinities have no JSON form: null, as JSON.stringify writes them; -0 survives.
    assert.deepStrictEqual(r.slice(8), [null, null, null, -0])
    assert.ok(Object.is(r[11], -0))
    ws.close()
  })

  test(`${c.name}: a broadcast reaches the client in its codec`, async () => {
    const ws = await host.rawSocket()
    // A first frame tells the host which codec this client speaks.
    await roundTrip(ws, c, { m: 'types:echo', a: [], t: 'q', i: 'hello' })
    // The event and the reply, in either order (other frames are ignored).
    let event, reply
    const both = new Promise((resolve) =>
      ws.on('message', (d) => {
        const m = decodeIn(c, d.toString())
        if (m.t === 'q' && m.m === 'types:pushed') event = m
        if (m.t === 's' && m.i === 'b') reply = m
        if (event && reply) resolve()
      }))
    ws.send(c.prefix + stringify({ m: 'types:broadcast', a: [], t: 'q', i: 'b' }))
    await both
    assert.deepStrictEqual(event, { m: 'types:pushed', a: [new Date(0), 5n], t: 'q', o: true })
    ws.close()
  })

  test(`${c.name}: malformed frames get bad_request and the host keeps serving`, async () => {
    const ws = await host.rawSocket()
    const bad = [
      '[[0,1]', // truncated
      '[[1,[0]]]', // a cycle
      '[[1,[7]]]', // an index out of range
      '[[42,1]]', // an unknown tag
      '{"t":"q"}', // not records
    ]
    for (const body of bad) {
      if (c.prefix === '' && body[0] !== '[') continue // that one is a JSON frame without the prefix
      const reply = nextMessage(ws)
      ws.send(c.prefix + body)
      const r = decodeIn(c, await reply)
      assert.equal(r.t, 's')
      // An Error record, as the reference server sends: name and message only.
      assert.ok(r.e instanceof Error, `${body}: ${JSON.stringify(r.e)}`)
      assert.ok(r.e.message.length > 0)
    }
    // A request whose arguments are refused is still answered under its id.
    const cyclic = []
    cyclic.push(cyclic)
    const refused = await roundTrip(ws, c, { m: 'types:echo', a: [cyclic], t: 'q', i: 'cyc' })
    assert.equal(refused.i, 'cyc')
    assert.ok(refused.e instanceof Error)
    assert.match(refused.e.message, /cyclic reference/)
    const ok = await roundTrip(ws, c, { m: 'types:echo', a: [new Date(1)], t: 'q', i: 'after' })
    assert.deepStrictEqual(ok, { t: 's', i: 'after', r: [new Date(1)] })
    ws.close()
  })
}

test('a JSON client keeps getting JSON', async () => {
  const client = await host.connect()
  assert.deepStrictEqual(await client.rpc['types:echo'](1, 'a', { x: [true, null] }), [1, 'a', { x: [true, null] }])
  // Types beyond JSON become what JSON.stringify makes of them.
  const made = await client.rpc['types:make']().catch((e) => e)
  assert.equal(made.code, 'internal') // a BigInt cannot be sent as JSON
  assert.match(made.message, /BigInt/)
  client.close()
})

test('one socket may switch codecs from frame to frame', async () => {
  const ws = await host.rawSocket()
  const s = await roundTrip(ws, CODECS[1], { m: 'types:echo', a: [5n], t: 'q', i: 'a' })
  assert.deepStrictEqual(s.r, [5n])
  const reply = nextMessage(ws)
  ws.send(JSON.stringify({ m: 'types:echo', a: [1], t: 'q', i: 'b' }))
  assert.deepStrictEqual(JSON.parse(await reply), { t: 's', i: 'b', r: [1] })
  const rec = await roundTrip(ws, CODECS[0], { m: 'types:echo', a: [new Set([2])], t: 'q', i: 'c' })
  assert.deepStrictEqual(rec.r, [new Set([2])])
  ws.close()
})

test('a table with a type metatable but wrong fields is refused with where it is', async () => {
  const client = await host.connect()
  const cases = {
    date: 'a moonhost.Date whose ms is not a number at the top',
    bigint: 'a moonhost.BigInt whose value is not decimal digits at the top',
    map: 'a Map entry that is not a {key, value} pair at entries[1]',
    regexp: 'a moonhost.RegExp with invalid flags',
    typed: 'a moonhost.TypedArray of an unknown kind',
    nested: 'a moonhost.Set whose values is not a list at list[1].entries[1][2]',
  }
  for (const [which, message] of Object.entries(cases)) {
    const e = await client.rpc['types:bad'](which).then(() => assert.fail(`${which} was sent`), (err) => err)
    assert.equal(e.code, 'internal')
    assert.ok(e.message.includes(message), `${which}: ${e.message}`)
  }
  client.close()
})
