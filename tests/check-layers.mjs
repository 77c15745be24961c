#!/usr/bin/env node
// The layer check (docs/architecture.md): reads the objects of a build
// (nm) and the sources (#include) and fails when
//   - files of host/ or of bindings/ depend on each other in a cycle, or
//   - a file uses (calls, or includes a header of) a higher layer of its
//     tree, or host/ names bindings/.
// Layers, lowest first: core < codec < call < session < mesh < transport <
// app < cli for host/; value < runtime < api < testing < engine for
// bindings/, which as a whole sits above host/. A file's layer is its
// folder (bindings/moonhost_lua.h, the seam header, counts as engine).
//
//   node tests/check-layers.mjs [BUILD_DIR]      (default: build)
//   node tests/check-layers.mjs --graph [BUILD_DIR]   prints every edge
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join, relative, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const printGraph = args[0] === '--graph'
if (printGraph) args.shift()
const buildDir = resolve(root, args[0] || 'build')

export const LAYERS = ['core', 'codec', 'call', 'session', 'mesh', 'transport', 'app', 'cli']
export const BINDING_LAYERS = ['value', 'runtime', 'api', 'testing', 'engine']

/** 'host/<layer>/x.c' or 'bindings/<layer>/x.c' -> layer; bindings/x.h -> 'engine'; else null. */
export function layerOf(file) {
  const parts = file.split('/')
  const tree = treeOf(file)
  if (!tree) return null
  if (tree === 'bindings' && parts.length === 2) return 'engine'
  const layers = tree === 'host' ? LAYERS : BINDING_LAYERS
  return parts.length > 2 && layers.includes(parts[1]) ? parts[1] : null
}

/** 'host', 'bindings' or null. */
export function treeOf(file) {
  const top = file.split('/')[0]
  return top === 'host' || top === 'bindings' ? top : null
}

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) walk(p, out)
    else out.push(p)
  }
  return out
}

// Objects: <build>/CMakeFiles/<lib>.dir/<source path>.o
function objects() {
  const out = []
  for (const lib of ['moonhost_host', 'moonhost_lua']) {
    const dir = join(buildDir, 'CMakeFiles', `${lib}.dir`)
    if (!existsSync(dir)) throw new Error(`no ${relative(root, dir)}: build first (cmake --build ${relative(root, buildDir)})`)
    for (const o of walk(dir)) if (o.endsWith('.c.o')) out.push({ obj: o, src: relative(dir, o).replace(/\.o$/, '') })
  }
  // Objects of sources that moved or went away stay in an old build directory.
  return out.filter((o) => treeOf(o.src) && existsSync(join(root, o.src)))
}

function symbolGraph() {
  const defs = new Map() // symbol -> source file
  const uses = new Map() // source file -> Set(symbol)
  for (const { obj, src } of objects()) {
    const text = execFileSync('nm', ['-P', obj], { encoding: 'utf8' })
    const used = new Set()
    for (const line of text.split('\n')) {
      const [sym, type] = line.split(' ')
      if (!sym || !type) continue
      if (type === 'U') used.add(sym)
      else if (/[TDBRC]/.test(type)) defs.set(sym, src)
    }
    uses.set(src, used)
  }
  const edges = new Map() // file -> Map(file -> example symbol)
  for (const [src, used] of uses) {
    const to = new Map()
    for (const sym of used) {
      const d = defs.get(sym)
      if (d && d !== src && !to.has(d)) to.set(d, sym)
    }
    edges.set(src, to)
  }
  return edges
}

// #include "x.h" of the sources of one tree (host/ or bindings/), resolved
// against the including folder, then the tree's root (includes are written
// from there). Includes of the other tree are not edges here.
function includeEdges(tree) {
  const out = []
  const base = join(root, tree)
  const files = walk(base).filter((f) => /\.[ch]$/.test(f))
  const byName = new Map(files.map((f) => [relative(base, f), relative(root, f)]))
  for (const f of files) {
    const rel = relative(root, f)
    for (const m of readFileSync(f, 'utf8').matchAll(/^#include "([^"]+)"/gm)) {
      const here = relative(base, join(dirname(f), m[1]))
      const target = byName.get(here) ?? byName.get(m[1])
      if (target && target !== rel) out.push([rel, target, m[0]])
    }
  }
  return out
}

// Tarjan's strongly connected components.
function sccs(edges) {
  let index = 0
  const idx = new Map(), low = new Map(), on = new Set(), stack = [], out = []
  const visit = (v) => {
    idx.set(v, index); low.set(v, index); index++
    stack.push(v); on.add(v)
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))) }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)))
    }
    if (low.get(v) === idx.get(v)) {
      const comp = []
      let w
      do { w = stack.pop(); on.delete(w); comp.push(w) } while (w !== v)
      if (comp.length > 1) out.push(comp.sort())
    }
  }
  for (const v of edges.keys()) if (!idx.has(v)) visit(v)
  return out
}

const unit = (f) => f.replace(/\.[ch]$/, '')
const rank = (f) => (treeOf(f) === 'host' ? LAYERS : BINDING_LAYERS).indexOf(layerOf(f))

function main() {
  const edges = symbolGraph()
  const problems = []
  if (printGraph)
    for (const [from, to] of edges) for (const [t, sym] of to) console.log(`${from} -> ${t} (${sym})`)
  for (const comp of sccs(edges)) problems.push(`cycle of ${comp.length} files: ${comp.join(', ')}`)
  for (const f of edges.keys())
    if (rank(f) < 0) problems.push(`${f}: not in a layer folder (${treeOf(f)}/<layer>/)`)
  for (const [from, to] of edges) {
    for (const [t, sym] of to) {
      if (treeOf(from) === 'host' && treeOf(t) === 'bindings')
        problems.push(`${from} calls ${sym} of ${t}: host/ never names bindings/`)
      else if (treeOf(from) === treeOf(t) && rank(t) > rank(from))
        problems.push(`${from} (${layerOf(from)}) calls ${sym} of ${t} (${layerOf(t)}): upward`)
    }
  }
  for (const [from, to, line] of [...includeEdges('host'), ...includeEdges('bindings')]) {
    if (unit(from) === unit(to)) continue
    if (rank(to) > rank(from)) problems.push(`${from} (${layerOf(from)}) ${line}, a ${layerOf(to)} header: upward`)
  }
  if (problems.length) {
    console.error(`check-layers: ${problems.length} problem(s)\n  ` + problems.join('\n  '))
    process.exit(1)
  }
  console.log(`check-layers: ${edges.size} files, no cycles, no upward arrows`)
}

main()
