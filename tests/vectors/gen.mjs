// Generates tests/vectors/structured-clone.json: frames made by the real
// structured-clone-es (the version pinned in tests/e2e/package.json), each with
// the value a JavaScript receiver gets back from it, for tests/c/test_sc_codec.c.
//
//   node tests/vectors/gen.mjs > tests/vectors/structured-clone.json
//
// Run it once and commit the output: the C tests read the fixed file and need no
// Node. Each vector is { name, frame, expect, exact } or { name, frame, error }:
//   frame   stringify(value): what @vitejs/devtools-rpc and devframe (after "s:") send
//   expect  parse(frame), described as a tagged tree (see describe below)
//   exact   whether moonhost's encoder must give back the very same text
//   error   decoding must fail with a message starting with this
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(resolve(here, '../e2e/package.json'))
const sc = await import(pathToFileURL(require.resolve('structured-clone-es')).href)
const { stringify, parse } = sc

// A number as JSON can hold it: special values as strings.
function num(x) {
  if (Number.isNaN(x)) return 'NaN'
  if (x === Infinity) return 'Infinity'
  if (x === -Infinity) return '-Infinity'
  if (Object.is(x, -0)) return '-0'
  return x
}

// The value as moonhost's tree holds it: ['int', n] for integers within 2^53
// (and not -0), ['float', x] otherwise; boxed primitives unboxed.
function describe(v) {
  if (v === undefined) return ['undefined']
  if (v === null) return ['null']
  if (typeof v === 'boolean' || v instanceof Boolean) return ['bool', v.valueOf()]
  if (typeof v === 'number' || v instanceof Number) {
    const x = Number(v)
    const int = Number.isInteger(x) && Math.abs(x) <= 2 ** 53 && !Object.is(x, -0)
    return int ? ['int', x] : ['float', num(x)]
  }
  if (typeof v === 'string' || v instanceof String) return ['string', String(v)]
  if (typeof v === 'bigint' || v instanceof BigInt) return ['bigint', v.toString()]
  if (v instanceof Date) return ['date', Number.isNaN(v.getTime()) ? 'NaN' : v.getTime()]
  if (v instanceof RegExp) return ['regexp', v.source, v.flags]
  if (v instanceof Error) return ['error', v.name, v.message]
  if (Array.isArray(v)) return ['array', v.map(describe)]
  if (v instanceof Map) return ['map', [...v].map(([k, x]) => [describe(k), describe(x)])]
  if (v instanceof Set) return ['set', [...v].map(describe)]
  if (v instanceof ArrayBuffer) return ['bytes', 'ArrayBuffer', [...new Uint8Array(v)]]
  if (v instanceof DataView) return ['bytes', 'DataView', [...new Uint8Array(v.buffer)]]
  if (ArrayBuffer.isView(v)) return ['bytes', v.constructor.name, [...v].map(num)]
  return ['object', Object.keys(v).map((k) => [k, describe(v[k])])]
}

const shared = { x: 1 }
const cyclic = []
cyclic.push(cyclic)
const selfObject = { name: 'loop' }
selfObject.self = selfObject

// [name, value, exact?]: exact is false where moonhost writes the same value
// differently (it copies shared objects, and prints some numbers differently).
const values = [
  ['integer', 1],
  ['negative integer', -17],
  ['zero', 0],
  ['float', 1.5],
  ['float 0.1', 0.1],
  ['float 0.1+0.2', 0.1 + 0.2],
  ['tiny float', 1e-7, false], // JS prints 1e-7, C 1e-07
  ['huge float', 1e21],
  ['2^53', 2 ** 53],
  ['beyond 2^53', 2 ** 53 + 2],
  ['max double', Number.MAX_VALUE],
  ['minus zero (JSON writes 0)', -0],
  ['NaN (JSON writes null)', NaN],
  ['Infinity (JSON writes null)', Infinity],
  ['-Infinity (JSON writes null)', -Infinity],
  ['special numbers together', [NaN, Infinity, -Infinity, -0, 0, null], false], // the nulls merge
  ['empty string', ''],
  ['string', 'hello'],
  ['unicode string', 'héllo ✓ 𝄞 日本'],
  ['escapes', '\n\t"\\/\u0001\u001f\u007f'],
  ['true', true],
  ['false', false],
  ['null', null],
  ['undefined', undefined],
  ['empty array', []],
  ['empty object', {}],
  ['nested arrays', [1, [2, [3, [4]]]]],
  ['object', { a: 1, b: { c: [true, null] }, 'ключ': 'значение' }],
  ['repeated strings are shared', ['x', 'x', 'y', 'x']],
  ['number and string 1', [1, 1.0, '1']],
  ['undefined member', { a: undefined, b: 2 }],
  ['undefined item', [undefined, undefined]],
  ['Date epoch', new Date(0)],
  ['Date with ms', new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789))],
  ['Date before epoch', new Date(-1)],
  ['Date year 1', new Date('0001-01-01T00:00:00.000Z')],
  ['Date negative year', new Date(-62198755200000)],
  ['Date year 10000', new Date(253402300800000)],
  ['Date max', new Date(8.64e15)],
  ['Date min', new Date(-8.64e15)],
  ['RegExp', /ab+c/gi],
  ['RegExp unicode', new RegExp('a/b\\d', 'u')],
  ['RegExp all flags', new RegExp('x', 'dgimsy')],
  ['Map', new Map([['a', 1], [1, 'a'], [true, null]])],
  ['Map with object key', new Map([[{ k: 1 }, [2]]])],
  ['empty Map', new Map()],
  ['Set', new Set([1, '1', 2, 'x'])],
  ['empty Set', new Set()],
  ['Error', new Error('boom')],
  ['TypeError (sent as Error)', new TypeError('bad type')],
  ['Error without message', new Error()],
  ['BigInt', 5n],
  ['big BigInt', -123456789012345678901234567890n],
  ['BigInt zero', 0n],
  ['BigInt shared', [7n, 7n]],
  ['boxed BigInt', Object(9n), false], // moonhost unboxes
  ['boxed Number', new Number(3.5), false],
  ['boxed String', new String('s'), false],
  ['boxed Boolean', new Boolean(false), false],
  ['Uint8Array', new Uint8Array([0, 1, 2, 255])],
  ['Int8Array', new Int8Array([-128, 127, 0])],
  ['Uint8ClampedArray', new Uint8ClampedArray([0, 128, 255])],
  ['Int16Array', new Int16Array([-32768, 32767])],
  ['Uint16Array', new Uint16Array([65535])],
  ['Int32Array', new Int32Array([-2147483648, 2147483647])],
  ['Uint32Array', new Uint32Array([4294967295])],
  ['Float32Array', new Float32Array([1.5, 0.1, -2])],
  ['Float64Array', new Float64Array([0.1, -0, 1e300])],
  ['Float64Array with NaN (JSON writes null)', new Float64Array([NaN, Infinity, 1]), false], // null reads as 0
  ['empty Uint8Array', new Uint8Array()],
  ['ArrayBuffer', new Uint8Array([9, 8, 7]).buffer],
  ['DataView', new DataView(new Uint8Array([1, 2]).buffer)],
  ['shared object is copied', [shared, shared], false],
  ['functions and symbols are dropped', { a: 1, f() {}, s: Symbol('s') }],
  ['toJSON', { when: { toJSON: () => 'later' } }],
  ['deep', [[[[[[[[[[['deep']]]]]]]]]]]],
  [
    'birpc request',
    { m: 'types:echo', a: [new Date(0), new Map([['a', 1]]), new Set([1]), 5n], t: 'q', i: 'abc' },
  ],
  ['birpc reply', { t: 's', i: 'abc', r: { ok: true, list: [1, 2, 3] } }],
  ['birpc error reply', { t: 's', i: 'abc', e: new Error('[birpc] function "x" not found') }],
]

const vectors = values.map(([name, value, exact = true]) => {
  const frame = stringify(value)
  return { name, frame, expect: describe(parse(frame)), exact }
})

// Frames the real package makes that moonhost refuses: its tree has no cycles.
for (const [name, value] of [
  ['cyclic array', cyclic],
  ['cyclic object', selfObject],
]) {
  vectors.push({ name, frame: stringify(value), error: 'cyclic reference' })
}

process.stdout.write(JSON.stringify(vectors, null, 1) + '\n')
