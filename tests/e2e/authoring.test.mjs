// Plugin authoring (docs/plugins.md): `moonhost test` (busted with moonhost
// as the interpreter), typed functions (bad_request over the wire, with a
// real birpc client), `moonhost types` (checked by a real tsc against the
// real @vitejs/devtools-kit types), `moonhost new plugin`, and every code
// sample of the guide.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync, cpSync } from 'node:fs'
import { spawn, spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { moonhostBin, repoRoot, runMoonhost as runRaw, tempDir, writeTree } from './lib/host.mjs'
import { hostFor, rejectionOf } from './lib/util.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const tsc = join(here, 'node_modules/typescript/bin/tsc')

/** Runs moonhost to completion; a sanitizer report fails the test outright. */
async function runMoonhost(args, opts) {
  const r = await runRaw(args, opts)
  assert.doesNotMatch(r.stderr, /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/, `sanitizer report:\n${r.stderr}`)
  return r
}

/** tsc --noEmit on the .ts files of dir (node_modules: this package's). Returns its output. */
function typeCheck(dir) {
  symlinkSync(join(here, 'node_modules'), join(dir, 'node_modules'))
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler',
      lib: ['es2022', 'dom'], types: [], skipLibCheck: true,
    },
    include: ['*.ts'],
  }))
  const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' })
  return { code: r.status, out: r.stdout + r.stderr }
}

test('moonhost test runs the spec of every shipped plugin, and they pass', async () => {
  const plugins = readdirSync(join(repoRoot, 'plugins')).filter((f) => f.endsWith('.lua')).map((f) => f.slice(0, -4))
  for (const name of ['demo', 'counter', 'logs', 'files', 'devserver']) assert.ok(plugins.includes(name), name)
  for (const name of plugins) assert.ok(existsSync(join(repoRoot, 'plugins/spec', `${name}_spec.lua`)), `${name} has a spec`)
  const r = await runMoonhost(['test', '-o', 'TAP'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.doesNotMatch(r.stdout, /^not ok/m)
  for (const name of plugins) assert.match(r.stdout, new RegExp(`^ok \\d+ - ${name} `, 'm'), `${name} specs ran`)
})

test('a failing spec makes moonhost test exit non-zero, in busted\'s formats', async () => {
  const dir = writeTree({
    'spec/math_spec.lua': `
      describe('math', function()
        it('adds', function() assert.are.equal(4, 2 + 2) end)
        it('is wrong on purpose', function() assert.are.equal(5, 2 + 2) end)
      end)`,
  })
  const tap = await runMoonhost(['test', join(dir, 'spec'), '-o', 'TAP'])
  assert.equal(tap.code, 1, tap.stdout + tap.stderr)
  assert.match(tap.stdout, /^ok 1 - math adds$/m)
  assert.match(tap.stdout, /^not ok 2 - math is wrong on purpose$/m)
  const junit = await runMoonhost(['test', '-o', 'junit', join(dir, 'spec')])
  assert.equal(junit.code, 1)
  const suites = /<testsuites [^>]*>/.exec(junit.stdout)[0]
  assert.match(suites, /failures='1'/)
  assert.match(suites, /tests='2'/)
  const filtered = await runMoonhost(['test', '--filter=adds', join(dir, 'spec')])
  assert.equal(filtered.code, 0, 'busted options pass through: only the passing test ran')
  assert.match(filtered.stdout, /1 success \/ 0 failures/)

  const broken = writeTree({ 'x_spec.lua': 'describe("broken", function() error("not even a test") end)' })
  const r = await runMoonhost(['test', broken])
  assert.notEqual(r.code, 0)
  assert.match(r.stdout, /not even a test/)
})

test('a call whose arguments do not match the schema is answered bad_request with the path', async (t) => {
  const host = await hostFor(t, { plugins: join(repoRoot, 'plugins') })
  const c = await host.connect()
  assert.equal(await c.rpc['demo:add'](2, 3), 5)
  let err = await rejectionOf(c.rpc['demo:add']('2', 3))
  assert.equal(err.code, 'bad_request')
  assert.equal(err.message, 'argument 1: expected number, got string')
  assert.deepEqual(err.data, { path: 'argument 1', expected: 'number', got: 'string' })
  err = await rejectionOf(c.rpc['logs:write']('hi', 'loud'))
  assert.equal(err.code, 'bad_request')
  assert.equal(err.message, 'argument 2: expected "info" | "warn" | "error", got string')
  err = await rejectionOf(c.rpc['counter:increment'](1, 2))
  assert.equal(err.message, 'expected at most 1 argument, got 2')
  assert.equal(await c.rpc['counter:increment'](2), 2, 'the next call works')
  assert.equal(await c.rpc['demo:echo']('untyped', 1), 'untyped', 'functions without a schema take anything')
})

test('moonhost types writes declarations that type-check against @vitejs/devtools-kit', async () => {
  const dir = tempDir('moonhost-types-')
  const r = await runMoonhost(['types', '--out', join(dir, 'moonhost.d.ts')])
  assert.equal(r.code, 0, r.stderr)
  const dts = readFileSync(join(dir, 'moonhost.d.ts'), 'utf8')
  assert.match(dts, /'demo:add': \(a: number, b: number\) => Promise<number>/)
  assert.match(dts, /'demo:echo': \(\.\.\.args: any\[\]\) => Promise<any>/)
  assert.match(dts, /declare module '@vitejs\/devtools-kit' \{/)
  writeFileSync(join(dir, 'use.ts'), `
import type { DevToolsRpcClientFunctions, DevToolsRpcFunctions, DevToolsRpcServerFunctions } from '@vitejs/devtools-kit'
import type { Logs, MoonhostFunctions } from './moonhost'

export const add: DevToolsRpcFunctions['demo:add'] = async (a, b) => a + b
export const add08: DevToolsRpcServerFunctions['demo:add'] = add
export const onLine: DevToolsRpcClientFunctions['logs:line'] = async (line) => { line.text.toUpperCase() }
export async function use(fns: MoonhostFunctions): Promise<number> {
  const status = await fns['devserver:status']()
  const running: boolean = status.running
  const url: string | null | undefined = status.url
  const tail: Logs.Line[] = await fns['logs:tail'](10)
  const level: 'info' | 'warn' | 'error' = tail[0].level
  const listing = await fns['files:list']('src')
  const kind: 'file' | 'dir' = listing[0].type
  await fns['demo:echo']('anything', 1, {})
  // @ts-expect-error demo:add takes numbers
  await fns['demo:add']('1', 2)
  // @ts-expect-error counter:get returns a number
  const s: string = await fns['counter:get']()
  return [running, url, level, kind, s].length + (await fns['counter:increment']())
}
`)
  // The oRPC client type: inputs as the host reads them (an array of the
  // arguments for demo:add, which declares two).
  assert.match(dts, /add: \(input: \[a: number, b: number\]\) => Promise<number>/)
  writeFileSync(join(dir, 'orpc.ts'), `
import { createORPCClient } from '@orpc/client'
import { RPCLink } from '@orpc/client/fetch'
import type { MoonhostORPC } from './moonhost'
export async function orpc(): Promise<number> {
  const client = createORPCClient<MoonhostORPC>(new RPCLink({ url: 'http://127.0.0.1:7812/rpc' }))
  await client.demo.echo({ any: 'thing' })
  await client.demo.echo()
  const written: number = await client.logs.write(['text'])
  // @ts-expect-error demo:add takes its two arguments as one array
  await client.demo.add(2, 3)
  // @ts-expect-error an object is not an argument list
  await client.demo.add({ a: 2, b: 3 })
  return written + (await client.demo.add([2, 3])) + (await client.counter.increment(1))
}
`)
  const clientDts = join(repoRoot, 'npm/moonhost-client/client.d.ts')
  if (existsSync(clientDts)) {
    // The moonhost browser client's typed<F>() takes the same map.
    cpSync(clientDts, join(dir, 'client.d.ts'))
    writeFileSync(join(dir, 'typed.ts'), `
import { connect } from './client.js'
import type { MoonhostFunctions } from './moonhost'
export async function typed(): Promise<number> {
  const rpc = connect({ url: 'ws://127.0.0.1:7812/__ws', token: 't' })
  // @ts-expect-error counter:increment takes an integer
  await rpc.typed<MoonhostFunctions>()['counter:increment']('x')
  return rpc.typed<MoonhostFunctions>()['counter:increment'](1)
}
`)
  }
  const check = typeCheck(dir)
  assert.equal(check.code, 0, check.out)
})

test('moonhost new plugin writes a plugin and a passing spec, and never overwrites', async (t) => {
  const dir = tempDir('moonhost-new-')
  const r = await runMoonhost(['new', 'plugin', 'weather', '--dir', dir])
  assert.equal(r.code, 0, r.stderr)
  const plugin = join(dir, 'weather.lua')
  const spec = join(dir, 'spec/weather_spec.lua')
  assert.ok(existsSync(plugin) && existsSync(spec))
  const ran = await runMoonhost(['test', dir, '-o', 'TAP'])
  assert.equal(ran.code, 0, ran.stdout + ran.stderr)
  assert.match(ran.stdout, /^1\.\.2$/m)

  writeFileSync(plugin, readFileSync(plugin, 'utf8') + '-- edited\n')
  const again = await runMoonhost(['new', 'plugin', 'weather', '--dir', dir])
  assert.equal(again.code, 1)
  assert.match(again.stderr, /already exists/)
  assert.match(readFileSync(plugin, 'utf8'), /-- edited\n$/, 'left as it was')
  for (const bad of ['9lives', 'has space', 'a/b', 'x_spec', '']) {
    const refused = await runMoonhost(['new', 'plugin', bad, '--dir', dir])
    assert.equal(refused.code, 2, `'${bad}' refused`)
  }

  // The skeleton serves real clients too.
  const host = await hostFor(t, { plugins: dir })
  const c = await host.connect()
  assert.equal(await c.rpc['weather:greet']('you'), 'hello, you')
  assert.equal(await c.rpc['weather:count'](), 1)
})

/** The fenced code blocks of docs/plugins.md: { lang, tag, code }. */
function docBlocks() {
  const text = readFileSync(join(repoRoot, 'docs/plugins.md'), 'utf8')
  return [...text.matchAll(/^```(\w*)([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    lang: m[1], tag: m[2].trim(), code: m[3],
  }))
}

test('docs/plugins.md: every plugin loads, every spec passes, the TypeScript type-checks', async (t) => {
  const blocks = docBlocks()
  const dir = tempDir('moonhost-docs-')
  const plugins = join(dir, 'plugins')
  mkdirSync(join(plugins, 'spec'), { recursive: true })
  const names = []
  let specs = 0
  let tsFiles = 0
  for (const b of blocks) {
    if (b.lang === 'lua') {
      assert.ok(['plugin', 'spec'].includes(b.tag), `every lua block is a plugin or a spec:\n${b.code}`)
      if (b.tag === 'plugin') {
        const name = /name = '([^']+)'/.exec(b.code)[1]
        names.push(name)
        writeFileSync(join(plugins, `${name}.lua`), b.code)
      } else {
        writeFileSync(join(plugins, 'spec', `doc${++specs}_spec.lua`), b.code)
      }
    } else if (b.lang === 'ts') {
      writeFileSync(join(dir, `doc${++tsFiles}.ts`), b.code)
    }
  }
  assert.ok(names.length >= 6 && specs >= 6 && tsFiles >= 1, `${names.length} plugins, ${specs} specs, ${tsFiles} ts`)

  const ran = await runMoonhost(['test', plugins, '-o', 'TAP'])
  assert.equal(ran.code, 0, ran.stdout + ran.stderr)
  assert.doesNotMatch(ran.stdout, /^not ok/m)

  const host = await hostFor(t, { plugins })
  for (const name of names) await host.waitForLog(new RegExp(`\\[plugin\\] ${name}: loaded`))
  assert.doesNotMatch(host.log, /load failed/)
  const c = await host.connect()
  assert.equal(await c.rpc['greeter:hello']('Ada'), 'hello, Ada')
  const err = await rejectionOf(c.rpc['modules:list']('src/', { includeSource: 'yes' }))
  assert.equal(err.message, 'argument 2.includeSource: expected boolean, got string')

  const types = await runMoonhost(['types', '--plugins', plugins, '--out', join(dir, 'moonhost.d.ts')])
  assert.equal(types.code, 0, types.stderr)
  const check = typeCheck(dir)
  assert.equal(check.code, 0, check.out)
})

// ---- moonhost types: stable names, void events, --watch (issue 15 item 11)

const entryPlugin = (name, extra = '') => `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = '${name}',
  types = { Entry = { id = 'string', size = 'integer' } },
  client_functions = { ['${name}:changed'] = { args = { 'Entry' } } },
  setup = function(ctx)
    ctx.rpc.register(moonhost.define_rpc_function {
      name = '${name}:list', args = {}, returns = 'Entry[]', handler = function() return moonhost.array {} end,
    })
    ctx.rpc.register(moonhost.define_rpc_function {
      name = '${name}:note', type = 'event', args = { 'string' }, handler = function(text) end,
    })${extra}
  end,
}
`

const useEntries = `
import type { MoonhostClientFunctions, MoonhostFunctions, Notes } from './moonhost'
export async function sizes(fns: MoonhostFunctions): Promise<number[]> {
  const list: Notes.Entry[] = await fns['notes:list']()
  const ignored: void = fns['notes:note']('an event: nothing comes back')
  return [ignored].length ? list.map((e) => e.size) : []
}
// A client function without returns is an event: a plain function that returns nothing fits.
export const changed: MoonhostClientFunctions['notes:changed'] = (entry) => { entry.id.toUpperCase() }
`

test('moonhost types: a plugin\'s type names do not change when another plugin defines the same name', async () => {
  const dir = tempDir('moonhost-types-stable-')
  const plugins = join(dir, 'plugins')
  mkdirSync(plugins)
  writeFileSync(join(plugins, 'notes.lua'), entryPlugin('notes'))
  writeFileSync(join(dir, 'use.ts'), useEntries)
  const alone = await runMoonhost(['types', '--plugins', plugins, '--out', join(dir, 'moonhost.d.ts')])
  assert.equal(alone.code, 0, alone.stderr)
  assert.match(alone.stderr, /wrote .*moonhost\.d\.ts \(1 plugin\)\n/)
  const first = readFileSync(join(dir, 'moonhost.d.ts'), 'utf8')
  assert.match(first, /'notes:note': \(text: string\) => void/)
  assert.match(first, /'notes:changed': \(arg1: Notes\.Entry\) => void/)
  let check = typeCheck(dir)
  assert.equal(check.code, 0, check.out)

  // alpha sorts first and has an Entry too: notes' names stay as they were.
  writeFileSync(join(plugins, 'alpha.lua'), entryPlugin('alpha'))
  const both = await runMoonhost(['types', '--plugins', plugins, '--out', join(dir, 'moonhost.d.ts')])
  assert.equal(both.code, 0, both.stderr)
  assert.match(both.stderr, /\(2 plugins\)\n/)
  const second = readFileSync(join(dir, 'moonhost.d.ts'), 'utf8')
  assert.match(second, /export namespace Alpha \{\n  export type Entry = /)
  for (const line of first.split('\n').filter((l) => l.includes('notes'))) assert.ok(second.includes(line), line)
  check = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' })
  assert.equal(check.status, 0, check.stdout + check.stderr)
})

test('moonhost types --watch writes the declarations again when a plugin changes', async (t) => {
  const dir = tempDir('moonhost-types-watch-')
  const plugins = join(dir, 'plugins')
  mkdirSync(plugins)
  writeFileSync(join(plugins, 'notes.lua'), entryPlugin('notes'))
  const out = join(dir, 'moonhost.d.ts')
  const child = spawn(moonhostBin, ['types', '--watch', '--plugins', plugins, '--out', out], { cwd: dir })
  t.after(() => child.kill('SIGKILL'))
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })))
  /** Resolves once stderr holds n lines matching re (checked on each write). */
  const seen = (re, n) => new Promise((res, rej) => {
    const count = () => (stderr.match(new RegExp(re.source, 'g')) || []).length
    const timer = setTimeout(() => rej(new Error(`never saw ${n} x ${re}:\n${stderr}`)), 15000)
    const check = () => {
      if (count() < n) return
      clearTimeout(timer)
      child.stderr.off('data', check)
      res()
    }
    child.stderr.on('data', check)
    check()
  })
  await seen(/watching .* for changes/, 1)
  assert.match(stderr, /wrote .*moonhost\.d\.ts \(1 plugin\)/)
  assert.doesNotMatch(readFileSync(out, 'utf8'), /notes:count/)

  writeFileSync(join(plugins, 'notes.lua'), entryPlugin('notes', `
    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'notes:count', args = {}, returns = 'integer', handler = function() return 0 end,
    })`))
  await seen(/watching .* for changes/, 2)
  assert.match(readFileSync(out, 'utf8'), /'notes:count': \(\) => Promise<number>/)

  writeFileSync(join(plugins, 'alpha.lua'), entryPlugin('alpha'))
  await seen(/watching .* for changes/, 3)
  assert.match(stderr, /wrote .*moonhost\.d\.ts \(2 plugins\)/)
  assert.match(readFileSync(out, 'utf8'), /'alpha:list'/)

  child.kill('SIGTERM')
  const { code } = await exited
  assert.equal(code, 0, stderr)
  assert.doesNotMatch(stderr, /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/)
})
