// Generates tests/vectors/ohash.json: what ohash 2.x (the package devframe
// 1.3 bundles) makes of argument lists, for tests/c/test_ohash.c, which
// serializes and hashes the same values with moonhost's mh_ohash and must
// get the same bytes. A static build names a query's record file after
// hash(args), and devframe's static client looks it up by that name.
//
//   node tests/vectors/gen-ohash.mjs > tests/vectors/ohash.json
//
// Each vector is { name, args, serialized, hash }: args is the argument
// list in a tagged JSON form (tag() below; structured-clone text would lose
// NaN, -0 and error names), serialized ohash's serialize(args), hash
// ohash's hash(args). The script checks that devframe's bundled copy of
// ohash (devframe/utils/hash, what its static client runs) agrees.
import { dirname, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
// Straight from tests/e2e/node_modules: ohash's exports hide its package.json.
const load = (spec, sub) => import(pathToFileURL(resolve(here, '../e2e/node_modules', spec, sub)).href)
const ohash = await load('ohash', 'dist/index.mjs')
const devframeHash = (await load('devframe', 'dist/utils/hash.mjs')).hash

// JSON for strings, booleans, null, arrays and finite numbers that are not
// -0; { t: TYPE, ... } for the rest. Objects are { t: 'object', v: [[key,
// value], ...] } so that their key order is the one they were built in.
function tag(x) {
  if (x === undefined) return { t: 'undefined' }
  if (typeof x === 'number') {
    if (Number.isNaN(x)) return { t: 'nan' }
    if (x === Infinity || x === -Infinity) return { t: x > 0 ? 'inf' : '-inf' }
    if (Object.is(x, -0)) return { t: '-0' }
    return x
  }
  if (typeof x === 'bigint') return { t: 'bigint', v: String(x) }
  if (x === null || typeof x !== 'object') return x
  if (Array.isArray(x)) return x.map(tag)
  if (x instanceof Date) return { t: 'date', v: x.getTime() }
  if (x instanceof Map) return { t: 'map', v: [...x].map(([k, v]) => [tag(k), tag(v)]) }
  if (x instanceof Set) return { t: 'set', v: [...x].map(tag) }
  if (x instanceof RegExp) return { t: 'regexp', source: x.source, flags: x.flags }
  if (x instanceof Error) return { t: 'error', name: x.name, message: x.message }
  if (ArrayBuffer.isView(x)) return { t: 'bytes', kind: x.constructor.name, v: [...x] }
  return { t: 'object', v: Object.entries(x).map(([k, v]) => [k, tag(v)]) }
}

const cases = [
  ['no arguments', []],
  ['one string', ['hello']],
  ['string with quotes', ["it's \"quoted\""]],
  ['string with backslash and newline', ['a\\b\nc\t']],
  ['unicode strings', ['é', 'ключ', '🙂', '日本語']],
  ['empty string', ['']],
  ['integers', [0, 1, -17, 42, 9007199254740991]],
  ['floats', [1.5, 0.1, 0.30000000000000004, -2.25, 1e-7, 1e21, 1e20, 123456789012345680000, 5e-324]],
  ['float exponents', [1.7976931348623157e308, 1e-6, 1.5e-6, 1e-5, 2e22, -3.5e-9]],
  ['minus zero', [-0, [-0]]],
  ['special numbers', [NaN, Infinity, -Infinity]],
  ['booleans', [true, false]],
  ['null and undefined', [null, undefined, [null, undefined]]],
  ['nested object', [{ b: 1, a: { d: [1, 2], c: 'x' } }]],
  ['keys by ohash collation', [{ b: 1, B: 2, a: 3, A: 4, _: 5, '-': 6, '0': 7, '10': 8, '9': 9, ' ': 10, '~': 11 }]],
  ['keys with symbols', [{ 'a.b': 1, 'a_b': 2, 'a-b': 3, 'a b': 4, 'a:b': 5, 'a/b': 6, 'a$b': 7, 'a|b': 8 }]],
  ['keys by case then code', [{ ab: 1, aB: 2, Ab: 3, AB: 4, abc: 5, a: 6 }]],
  ['unicode keys', [{ 'é': 1, 'e': 2, 'ключ': 3, '🙂': 4, '\uffff': 5, 'z': 6, 'Z': 7 }]],
  ['control character keys', [{ '\u0001': 1, '\t': 2, a: 3, '\u007f': 4 }]],
  ['empty containers', [{}, []]],
  ['array of objects', [[{ y: 1, x: 2 }, { x: 3 }]]],
  ['date', [new Date(Date.UTC(2024, 1, 29, 12, 0, 0, 5))]],
  ['dates far away', [new Date(-62198755200000), new Date(8.64e15), new Date(0)]],
  ['map with string keys', [new Map([['b', 1], ['a', { z: 1, y: 2 }], ['B', 3]])]],
  ['map with number keys', [new Map([[10, 'ten'], [9, 'nine'], [-1, 'minus'], [1.5, 'x']])]],
  ['map with mixed keys', [new Map([['k', 1], [2, 2], [null, 3], [true, 4]])]],
  ['set of strings', [new Set(['b', 'a', 'C', 'c'])]],
  ['set of numbers', [new Set([3, 1, 2, 10])]],
  ['set with undefined', [new Set(['x', undefined, 1])]],
  ['nested map and set', [{ m: new Map([['s', new Set([2, 1])]]) }]],
  ['bigint', [123n, -5n]],
  ['regexp', [/a+b/gi]],
  ['error', [new Error('boom'), new TypeError('bad')]],
  ['typed arrays', [new Uint8Array([1, 2, 255]), new Float64Array([0.5, -1, 1e21])]],
  ['a devframe shared-state key', ['devframe:services']],
  ['several arguments', ['src/', { includeSource: true, limit: 10 }]],
]

const vectors = []
for (const [name, args] of cases) {
  const serialized = ohash.serialize(args)
  const hash = ohash.hash(args)
  if (devframeHash(args) !== hash) throw new Error(`${name}: devframe's bundled ohash disagrees`)
  vectors.push({ name, args: tag(args), serialized, hash })
}
process.stdout.write('[\n' + vectors.map((v) => JSON.stringify(v)).join(',\n') + '\n]\n')
