// Generates tests/vectors/immer-patches.json: patches made by the immer that
// the real devframe 1.3 client bundles (devframe/utils/shared-state with
// enablePatches), for tests/c/test_shared_state.c, which applies them with
// moonhost's shared-state store and must reach the same value.
//
//   node tests/vectors/gen-immer.mjs > tests/vectors/immer-patches.json
//
// Each vector is { name, before, after, patches }: after is what
// state.mutate(recipe) made of before, patches what immer says it did.
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(resolve(here, '../e2e/package.json'))
const devframeDir = dirname(require.resolve('devframe/package.json'))
const { createSharedState } = await import(pathToFileURL(resolve(devframeDir, 'dist/utils/shared-state.mjs')).href)

const cases = [
  ['set a key', { a: 1 }, (d) => { d.a = 2 }],
  ['add a key', { a: 1 }, (d) => { d.b = 'x' }],
  ['delete a key', { a: 1, b: 2 }, (d) => { delete d.b }],
  ['nested object', { o: { p: { q: 1 } } }, (d) => { d.o.p.q = 2; d.o.r = [1] }],
  ['push to an array', { list: [1, 2] }, (d) => { d.list.push(3, 4) }],
  ['shrink an array', { list: [1, 2, 3, 4] }, (d) => { d.list.length = 1 }],
  ['splice an array', { list: ['a', 'b', 'c'] }, (d) => { d.list.splice(1, 1) }],
  ['unshift an array', { list: ['b'] }, (d) => { d.list.unshift('a') }],
  ['item inside an array', { list: [{ n: 1 }, { n: 2 }] }, (d) => { d.list[1].n = 3 }],
  ['replace the whole value', { a: 1 }, () => ({ b: [true, null] })],
  ['type change', { a: { b: 1 } }, (d) => { d.a = 'now a string' }],
  ['unicode keys and values', { 'ключ': 'é' }, (d) => { d['ключ'] = '🙂'; d['"q"'] = 'x' }],
]

const vectors = []
for (const [name, before, recipe] of cases) {
  const state = createSharedState({ initialValue: structuredClone(before), enablePatches: true })
  let patches
  state.on('updated', (_full, p) => { patches = p })
  state.mutate(recipe)
  vectors.push({ name, before, after: state.value(), patches })
}
process.stdout.write('[\n' + vectors.map((v) => JSON.stringify(v)).join(',\n') + '\n]\n')
