// Static builds (issue 17): `moonhost build --out DIR` writes devframe's
// static RPC dump, a plain static file server (node's http) serves DIR, and
// the REAL devframe 1.3 client in static mode (and @vitejs/devtools-kit
// 0.8's getDevToolsRpcClient) reads every static value, a query's record by
// its arguments (the client hashes them with its own ohash: the file name
// must match), the fallback, the shared state, and fails unknown arguments
// with its "No dump match" error. Plus the build's own failures.
import './lib/devtools-env.mjs'
import { openPage } from './lib/devtools-env.mjs'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join, normalize } from 'node:path'
import { pathToFileURL } from 'node:url'
import { getDevframeRpcClient } from 'devframe/client'
import { getDevToolsRpcClient } from '@vitejs/devtools-kit/client'
import { runMoonhost, tempDir, writeTree } from './lib/host.mjs'
import { readerProject, readmeFiles, readmeSection } from './lib/readme.mjs'

const here = new URL('.', import.meta.url).pathname
const { hash } = await import(pathToFileURL(join(here, 'node_modules/ohash/dist/index.mjs')).href)

const catalog = `local moonhost = require 'moonhost'
return moonhost.plugin {
  name = 'catalog',
  setup = function(ctx)
    local board = ctx.rpc.shared_state('catalog:board', { initial = { count = 7, mode = ctx.mode } })
    ctx.rpc.register { name = 'catalog:info', type = 'static', handler = function()
      return { mode = ctx.mode, built = moonhost.date('2024-02-29T12:00:00.000Z'), tags = moonhost.set { 'a', 'b' },
               none = moonhost.null, big = moonhost.bigint('12345678901234567890') }
    end }
    ctx.rpc.register { name = 'catalog:item', handler = function(id, opts)
      return { id = id, upper = (opts and opts.upper) and id:upper() or moonhost.null }
    end, dump = { inputs = { { 'a' }, { "it's \\"é\\"", { upper = true, at = moonhost.date(0) } } },
                  fallback = 'not in this build' } }
    ctx.rpc.register { name = 'catalog:count', handler = function() return 42 end, snapshot = true }
    ctx.rpc.register { name = 'catalog:double', handler = function(n) return n * 2 end,
      dump = function(c) return { inputs = { { 1 }, { 2.5 }, { moonhost.map { { 'k', 1 } } } } } end }
    ctx.rpc.register { name = 'catalog:search', handler = function(q) return q end }
    ctx.rpc.register { name = 'catalog:save', type = 'action', handler = function() board:set({ count = 0 }) end }
    ctx.rpc.register { name = 'catalog:ping', type = 'event', handler = function() end }
  end,
}
`
// A Map key is not a number: catalog:double's third input answers with an
// error at build time unless the handler copes, so it does:
const catalogSource = catalog.replace("return n * 2 end,", "return type(n) == 'number' and n * 2 or 'map' end,")

/** A plain static file server for dir: GET a file, or 404. */
function serveStatic(dir) {
  const server = createServer((req, res) => {
    const path = normalize(join(dir, decodeURIComponent(new URL(req.url, 'http://x').pathname)))
    if (!path.startsWith(dir) || !existsSync(path)) {
      res.writeHead(404).end('not found')
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(readFileSync(path))
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

let out, server, build
before(async () => {
  const plugins = writeTree({ 'catalog.lua': catalogSource })
  out = join(tempDir('moonhost-static-'), 'site')
  build = await runMoonhost(['build', '--plugins', plugins, '--out', out, '--config', tempDir()])
  server = await serveStatic(out)
})
after(() => server?.close())

test('moonhost build writes the static layout, with progress lines and the skipped query named', () => {
  assert.equal(build.code, 0, build.stderr)
  assert.deepEqual(JSON.parse(readFileSync(join(out, '__connection.json'), 'utf8')),
    { backend: 'static', jsonSerializableMethods: [] })
  const index = JSON.parse(readFileSync(join(out, '__rpc-dump/index.json'), 'utf8'))
  assert.deepEqual(Object.keys(index).sort(),
    ['catalog:count', 'catalog:double', 'catalog:info', 'catalog:item', 'devframe:rpc:server-state:get'])
  assert.deepEqual(index['catalog:info'],
    { type: 'static', path: '__rpc-dump/catalog~info.static.json', serialization: 'structured-clone' })
  // Record names are ohash's hash of the arguments, as the real package computes it.
  const h = hash(["it's \"é\"", { upper: true, at: new Date(0) }])
  assert.equal(index['catalog:item'].records[h], `__rpc-dump/catalog~item.record.${h}.json`)
  assert.equal(index['catalog:item'].fallback, '__rpc-dump/catalog~item.fallback.json')
  assert.equal(index['catalog:double'].records[hash([2.5])], `__rpc-dump/catalog~double.record.${hash([2.5])}.json`)
  for (const entry of Object.values(index)) {
    for (const path of [entry.path, entry.fallback, ...Object.values(entry.records || {})].filter(Boolean)) {
      assert.ok(existsSync(join(out, path)), path)
    }
  }
  assert.equal(readdirSync(join(out, '__rpc-dump')).length, 1 + 1 + 3 + 2 + 3 + 3)
  assert.match(build.stderr, /catalog:info \(static\) -> __rpc-dump\/catalog~info\.static\.json/)
  assert.match(build.stderr, /catalog:item \(query\) -> 2 records and a fallback/)
  assert.match(build.stderr, /catalog:search \(query\) skipped: it declares no dump/)
  assert.doesNotMatch(build.stderr, /catalog:save|catalog:ping/) // actions and events are never dumped
})

async function devframeClient() {
  openPage(server.address().port)
  const rpc = await getDevframeRpcClient({ baseURL: '/' })
  assert.equal(rpc.transport, 'static')
  return rpc
}

test('the real devframe client in static mode reads every dumped value', async () => {
  const rpc = await devframeClient()
  try {
    const info = await rpc.call('catalog:info')
    assert.equal(info.mode, 'build') // ctx.mode in a build
    assert.deepEqual(info.built, new Date('2024-02-29T12:00:00.000Z'))
    assert.deepEqual(info.tags, new Set(['a', 'b']))
    assert.equal(info.none, null)
    assert.equal(info.big, 12345678901234567890n)
    // Records by their arguments: the client hashes them itself.
    assert.deepEqual(await rpc.call('catalog:item', 'a'), { id: 'a', upper: null })
    assert.deepEqual(await rpc.call('catalog:item', "it's \"é\"", { at: new Date(0), upper: true }),
      { id: "it's \"é\"", upper: "IT'S \"é\"" })
    assert.equal(await rpc.call('catalog:item', 'zzz'), 'not in this build') // the fallback
    assert.equal(await rpc.call('catalog:count'), 42)
    assert.equal(await rpc.call('catalog:count', 'any'), 42) // a snapshot is its own fallback
    assert.equal(await rpc.call('catalog:double', 1), 2)
    assert.equal(await rpc.call('catalog:double', 2.5), 5)
    assert.equal(await rpc.call('catalog:double', new Map([['k', 1]])), 'map')
    await assert.rejects(rpc.call('catalog:double', 3), /No dump match for "catalog:double" with args: \[3\]/)
    await assert.rejects(rpc.call('catalog:info', 'x'), /No dump match for "catalog:info"/)
    await assert.rejects(rpc.call('catalog:search', 'q'), /"catalog:search" not found in dump store/)
    // Shared state: read from the dump, one record per key.
    const board = await rpc.sharedState.get('catalog:board')
    assert.deepEqual(board.value(), { count: 7, mode: 'build' })
    assert.equal(await rpc.call('devframe:rpc:server-state:get', 'no-such-key'), undefined)
  } finally {
    rpc.close()
  }
})

test('the Vite DevTools Kit client (getDevToolsRpcClient) reads the same build', async () => {
  openPage(server.address().port)
  const rpc = await getDevToolsRpcClient({ baseURL: '/' })
  try {
    assert.equal((await rpc.call('catalog:info')).mode, 'build')
    assert.deepEqual(await rpc.call('catalog:item', 'a'), { id: 'a', upper: null })
    assert.equal(await rpc.call('catalog:item', 'b'), 'not in this build')
    const board = await rpc.sharedState.get('catalog:board')
    assert.equal(board.value().count, 7)
    await assert.rejects(rpc.call('catalog:double', 9), /No dump match/)
  } finally {
    rpc.close()
  }
})

test('README "Build a static DevTools": the page code reads a build of the docs\' changelog plugin', async (t) => {
  const plugin = /```lua plugin\n([\s\S]*?)```/.exec(readmeSection('Static builds', 'docs/plugins.md'))[1]
  assert.match(plugin, /name = 'changelog'/)
  const site = join(tempDir('moonhost-static-docs-'), 'site')
  const r = await runMoonhost(['build', '--plugins', writeTree({ 'changelog.lua': plugin }), '--out', site,
    '--config', tempDir()])
  assert.equal(r.code, 0, r.stderr)
  const docsServer = await serveStatic(site)
  t.after(() => docsServer.close())
  // The README's page code, as a reader's module (its imports resolve in a reader project).
  const page = join(readerProject(), 'devtools.mjs')
  writeFileSync(page, readmeFiles('Build a static DevTools')['devtools.js'])
  openPage(docsServer.address().port)
  const got = await import(pathToFileURL(page).href)
  t.after(() => got.rpc.close()) // its BroadcastChannel would keep the process alive
  assert.deepEqual(got.about, { mode: 'build', versions: new Set(['1.0', '1.1']) })
  assert.deepEqual(got.release, { version: '1.1', date: new Date('2024-03-02T00:00:00.000Z'), notes: 'Static builds' })
  assert.equal(got.missing, null)
  assert.deepEqual(got.seen, { latest: '1.1' })
  assert.match(readmeSection('Build a static DevTools'), /No dump match for "changelog:release"/)
})

test('a failing static function fails the build, naming it and its plugin line', async () => {
  const plugins = writeTree({
    'bad.lua': `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'bad', setup = function(ctx)
  ctx.rpc.register { name = 'bad:fine', type = 'static', handler = function() return 1 end }
  ctx.rpc.register { name = 'bad:boom', type = 'static', handler = function()
    error('no data here')
  end }
end }
`,
  })
  const dir = join(tempDir('moonhost-static-bad-'), 'site')
  const r = await runMoonhost(['build', '--plugins', plugins, '--out', dir, '--config', tempDir()])
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, /moonhost build: bad:boom failed: .*bad\.lua:5: no data here/)
  assert.ok(!existsSync(join(dir, '__rpc-dump/index.json'))) // no index: nothing half-built is served
})

test('a query whose dumped call fails, or whose dump function fails, names it', async () => {
  const plugins = writeTree({
    'q.lua': `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'q', setup = function(ctx)
  ctx.rpc.register { name = 'q:get', handler = function(n)
    if n == 2 then error('two is missing') end
    return n
  end, dump = { inputs = { { 1 }, { 2 } } } }
end }
`,
    'r.lua': `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'r', setup = function(ctx)
  ctx.rpc.register { name = 'r:get', handler = function() end, dump = function() return { inputs = 5 } end }
end }
`,
  })
  const r = await runMoonhost(['build', '--plugins', plugins, '--out', join(tempDir(), 'site'), '--config', tempDir()])
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr,
    /moonhost build: r: cannot plan its static build: function 'r:get': what dump\(ctx\) returned: dump\.inputs must be a list/)
  assert.doesNotMatch(r.stderr, /traceback/)
  writeTree({ 'r.lua': "return require('moonhost').plugin { setup = function() end }\n" }, plugins)
  const r2 = await runMoonhost(['build', '--plugins', plugins, '--out', join(tempDir(), 'site'), '--config', tempDir()])
  assert.equal(r2.code, 1, r2.stderr)
  assert.match(r2.stderr, /moonhost build: q:get with arguments \[2\] failed: .*q\.lua:4: two is missing/)
})

test('dump options are checked where they are written', async () => {
  const plugins = writeTree({
    'a.lua': `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'a', setup = function(ctx)
  ctx.rpc.register { name = 'a:save', type = 'action', handler = function() end, snapshot = true }
end }
`,
  })
  const r = await runMoonhost(['build', '--plugins', plugins, '--out', join(tempDir(), 'site'), '--config', tempDir()])
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, /plugin a .*a\.lua:3: .*snapshot is only for type 'query' \(got 'action'\): an action is never dumped/)
})

test('--out is required, and an unwritable directory fails the build with its path', async () => {
  const missing = await runMoonhost(['build', '--config', tempDir()])
  assert.equal(missing.code, 2)
  assert.match(missing.stderr, /moonhost build: --out DIR is required/)

  // A directory that cannot be made (a file is in the way: root, which the
  // tests may run as, writes through permission bits) ...
  const plugins = writeTree({ 'catalog.lua': catalogSource })
  const blocker = join(writeTree({ 'file': 'not a directory' }), 'file')
  const r = await runMoonhost(['build', '--plugins', plugins, '--out', join(blocker, 'site'), '--config', tempDir()])
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, new RegExp(`moonhost build: cannot create ${blocker}/site/__rpc-dump: .*Not a directory`))
  // ... and a file that cannot be written (a directory is in its place).
  const site = tempDir('moonhost-static-taken-')
  mkdirSync(join(site, '__connection.json'))
  const r2 = await runMoonhost(['build', '--plugins', plugins, '--out', site, '--config', tempDir()])
  assert.equal(r2.code, 1, r2.stderr)
  assert.match(r2.stderr, new RegExp(`moonhost build: cannot write ${site}/__connection.json: .*Is a directory`))
})

test('moonhost --help describes build', async () => {
  const r = await runMoonhost(['--help'])
  assert.equal(r.code, 0)
  assert.match(r.stdout, /moonhost build --out DIR/)
  assert.match(r.stdout, /build: 0 written, 1 a plugin or a\s+function failed/)
})
