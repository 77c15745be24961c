// Values across the wire and through Lua: null, booleans, integers vs
// floats, unicode strings, nesting, empty arrays vs empty objects, values Lua
// cannot send, and JSON the host must refuse (invalid UTF-8, too deep).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hostFor, rejectionOf, rawClient, configDir } from './lib/util.mjs'

async function setup(t) {
  const host = await hostFor(t)
  const c = await host.connect()
  return { host, c, echo: (...args) => c.rpc['values:echo'](...args), describe: (...args) => c.rpc['values:describe'](...args) }
}

test('null arrives as nil and comes back as null; no result is undefined', async (t) => {
  const { c, echo, describe } = await setup(t)
  assert.equal(await echo(null), null)
  assert.equal(await c.rpc['values:is_nil'](null), true)
  assert.equal(await c.rpc['values:is_nil'](0), false)
  assert.equal(await c.rpc['values:is_nil'](false), false)
  assert.deepEqual(await describe(null), { nargs: 1, lua: 'nil', math: null })
  assert.equal(await c.rpc['values:nothing'](), undefined)
})

test('null inside arrays and objects survives (moonhost.null), keeping array length', async (t) => {
  const { c, echo } = await setup(t)
  assert.deepEqual(await echo([null, 1, null]), [null, 1, null])
  assert.deepEqual(await echo({ a: null, b: 1 }), { a: null, b: 1 })
  assert.deepEqual(await c.rpc['values:inner_null']([null, 'x']), { first_is_null: true, len: 2 })
})

test('booleans round-trip', async (t) => {
  const { echo, describe } = await setup(t)
  assert.equal(await echo(true), true)
  assert.equal(await echo(false), false)
  assert.equal((await describe(false)).lua, 'boolean')
})

test('integers and floats stay distinct in Lua (math.type) and round-trip', async (t) => {
  const { c, echo, describe } = await setup(t)
  assert.equal((await describe(1)).math, 'integer')
  assert.equal((await describe(-42)).math, 'integer')
  assert.equal((await describe(0)).math, 'integer')
  assert.equal((await describe(1.5)).math, 'float')
  assert.equal((await describe(-0.25)).math, 'float')
  assert.equal((await describe(1e300)).math, 'float')
  assert.equal(await echo(1), 1)
  assert.equal(await echo(1.5), 1.5)
  assert.equal(await echo(-0.1), -0.1)
  assert.equal(await echo(9007199254740991), 9007199254740991)
  assert.equal(await echo(Number.MIN_VALUE), Number.MIN_VALUE)
  assert.deepEqual(await c.rpc['values:integer_and_float'](), { int: 7, float: 2.5, neg: -3, big: 4503599627370496 })
})

test('unicode strings round-trip byte for byte', async (t) => {
  const { echo, describe } = await setup(t)
  const samples = ['', 'plain ascii', 'héllo wörld', '中文字符', 'emoji 🌕🚀', 'mixed: ñ — « » \u2028 \t\n "quoted" \\ /']
  for (const s of samples) {
    assert.equal(await echo(s), s)
    const d = await describe(s)
    assert.equal(d.lua, 'string')
    assert.equal(d.bytes, Buffer.byteLength(s, 'utf8'), `bytes of ${JSON.stringify(s)}`)
    assert.equal(d.chars, [...s].length, `code points of ${JSON.stringify(s)}`)
  }
})

test('\\u escapes in JSON (a surrogate pair) decode to UTF-8 in Lua', async (t) => {
  const { host } = await setup(t)
  const raw = await rawClient(host)
  raw.send('{"t":"q","i":"esc","m":"values:describe","a":["\\u00e9\\ud83c\\udf15"]}')
  assert.deepEqual(await raw.next(), { t: 's', i: 'esc', r: { nargs: 1, lua: 'string', math: null, bytes: 6, chars: 2 } })
})

test('nested arrays and objects round-trip', async (t) => {
  const { echo } = await setup(t)
  const v = {
    name: 'tree',
    list: [1, 2.5, 'three', true, null, [4, [5, [6]]], { deep: { deeper: { deepest: 'yes' } } }],
    map: { a: { b: { c: [] } }, 'key with spaces': 1, 'ключ': 'значение' },
  }
  assert.deepEqual(await echo(v), v)
  const top = [[[]], [{}], { x: [{ y: [] }] }]
  assert.deepEqual(await echo(top), top)
})

test('an empty array stays [] and an empty object stays {}', async (t) => {
  const { c, echo, describe } = await setup(t)
  assert.deepEqual(await echo([]), [])
  assert.ok(Array.isArray(await echo([])))
  assert.deepEqual(await echo({}), {})
  assert.ok(!Array.isArray(await echo({})))
  assert.deepEqual(await echo({ a: [], o: {} }), { a: [], o: {} })
  assert.deepEqual(await describe([]), { nargs: 1, lua: 'table', math: null, is_array: true, len: 0 })
  assert.deepEqual(await describe({}), { nargs: 1, lua: 'table', math: null, is_array: false, len: 0 })
  // Built in Lua: moonhost.array {} is [], a plain {} is {}.
  const empties = await c.rpc['values:empties']()
  assert.deepEqual(empties, { arr: [], obj: {} })
  assert.ok(Array.isArray(empties.arr))
})

test('a result table with a cycle is an error reply mentioning the cycle; the host goes on', async (t) => {
  const { c, echo } = await setup(t)
  const err = await rejectionOf(c.rpc['values:cycle']())
  assert.match(err.message, /cycle/)
  assert.equal(err.code, 'internal')
  assert.equal(await echo('after'), 'after')
})

test('a table that starts as a list: converted, or refused with what is wrong and where', async (t) => {
  const { c, echo } = await setup(t)
  const list = (which) => c.rpc['values:list'](which)
  assert.deepEqual(await list('nested_ok'), [1, [2, 3], 'four'])
  assert.deepEqual(await list('backwards'), [10, 20, 30, 40, 50])
  const refusals = {
    mixed: 'a table mixing string keys and array items at the top',
    holes: 'an array with holes (use moonhost.null for missing items) at the top',
    badkey: 'a table key of type boolean (keys must be strings, or 1..n for an array) at the top',
    nested: 'a table mixing string keys and array items at [2]',
    badstring: 'a string that is not valid UTF-8 at [2][2]',
    backwards_bad: 'a string that is not valid UTF-8 at [3]',
    sparse: 'an array with holes (use moonhost.null for missing items) at the top',
    // A hole is reported before the bad item at [4].
    late_bad: 'an array with holes (use moonhost.null for missing items) at the top',
    // The keys are checked before any item: the mix is reported, not the function.
    fn_then_key: 'a table mixing string keys and array items at the top',
  }
  for (const [which, why] of Object.entries(refusals)) {
    const err = await rejectionOf(list(which))
    assert.equal(err.code, 'internal')
    assert.ok(err.message.endsWith(`cannot send the result: ${why}`), `${which}: ${err.message}`)
  }
  assert.equal(await echo('after'), 'after')
})

test('a function value in the result is an error reply', async (t) => {
  const { c, echo } = await setup(t)
  const err = await rejectionOf(c.rpc['values:function']())
  assert.match(err.message, /function/)
  assert.equal(err.code, 'internal')
  assert.equal(await echo(1), 1)
})

test('invalid UTF-8 inside a JSON string is refused with bad_request; the host keeps serving', async (t) => {
  const { host, echo } = await setup(t)
  const raw = await rawClient(host)
  // 0xC3 0x28: a lead byte followed by a byte that is not a continuation.
  const frame = Buffer.concat([
    Buffer.from('{"t":"q","i":"utf8","m":"values:echo","a":["bad '),
    Buffer.from([0xc3, 0x28]),
    Buffer.from(' text"]}'),
  ])
  raw.send(frame) // as a text frame
  const reply = await raw.next()
  assert.equal(reply.t, 's')
  assert.equal(reply.i, 'utf8', 'the reply names the call it answers')
  assert.ok(!('r' in reply))
  assert.equal(reply.e.code, 'bad_request')
  assert.match(reply.e.message, /UTF-8/)
  // The same socket and another client both still work.
  raw.send({ t: 'q', i: 'ok', m: 'values:echo', a: ['fine'] })
  assert.deepEqual(await raw.replyTo('ok'), { t: 's', i: 'ok', r: 'fine' })
  assert.equal(await echo('still serving'), 'still serving')
})

/** [[[...]]] nested n deep. */
const nested = (n) => '['.repeat(n) + ']'.repeat(n)

test('JSON nested deeper than limits.json_max_depth is refused with bad_request', async (t) => {
  const { host, echo } = await setup(t)
  const raw = await rawClient(host)
  // Default limit 128: the envelope and the argument list are two levels already.
  raw.send(`{"t":"q","i":"deep","m":"values:echo","a":[${nested(200)}]}`)
  const reply = await raw.next()
  assert.equal(reply.i, 'deep', 'the reply names the call it answers')
  assert.equal(reply.e.code, 'bad_request')
  assert.match(reply.e.message, /nest|deep/i)
  assert.equal(await echo('after deep'), 'after deep')
})

test('nesting within limits.json_max_depth round-trips', async (t) => {
  const { echo } = await setup(t)
  const v = JSON.parse(nested(100))
  assert.deepEqual(await echo(v), v)
})

test('limits.json_max_depth applies at the configured depth', async (t) => {
  const host = await hostFor(t, { config: configDir(t, { '50-depth.lua': 'return { limits = { json_max_depth = 8 } }\n' }) })
  const raw = await rawClient(host)
  // envelope (1) + args (2) + 6 levels = 8: accepted
  raw.send(`{"t":"q","i":"at-limit","m":"values:echo","a":[${nested(6)}]}`)
  assert.deepEqual(await raw.next(), { t: 's', i: 'at-limit', r: JSON.parse(nested(6)) })
  // one more level: refused
  raw.send(`{"t":"q","i":"over","m":"values:echo","a":[${nested(7)}]}`)
  const reply = await raw.next()
  assert.equal(reply.e?.code, 'bad_request', JSON.stringify(reply))
})

test('a request whose arguments the host refuses is still answered with its id (the caller does not hang)', async (t) => {
  // birpc clients match replies by id: an error reply without it leaves the
  // caller's promise pending until its own timeout. These are frames a real
  // birpc client produces from ordinary JavaScript strings.
  const { host } = await setup(t)
  const raw = await rawClient(host)
  const cases = {
    nul: 'a\u0000b', // U+0000 is a valid JSON string character
    lone: 'x\ud800y', // JSON.stringify escapes a lone surrogate as \ud800
  }
  for (const [id, s] of Object.entries(cases)) {
    raw.send(JSON.stringify({ m: 'values:echo', a: [s], t: 'q', i: id }))
    const reply = await raw.next()
    assert.equal(reply.i, id, `reply to ${JSON.stringify(s)} has no id: ${JSON.stringify(reply)}`)
    if ('e' in reply) assert.equal(reply.e.code, 'bad_request')
    else assert.equal(typeof reply.r, 'string')
  }
  // The same through a real birpc client: the call settles (no client timeout).
  const c = await host.connect({}, { timeout: 5000 })
  for (const s of Object.values(cases)) {
    const outcome = await c.rpc['values:echo'](s).then(
      (r) => ({ r }),
      (e) => ({ e }),
    )
    assert.ok(!(outcome.e instanceof Error), `birpc call with ${JSON.stringify(s)} did not settle: ${outcome.e?.message}`)
    if (outcome.e) assert.equal(outcome.e.code, 'bad_request')
  }
})
