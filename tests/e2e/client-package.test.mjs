// The JavaScript client as an npm package (issue 15, items 2 and 3):
// `moonhost run -- COMMAND` tells the command where moonhost listens
// (MOONHOST_URL, MOONHOST_WS_URL, MOONHOST_PORT, MOONHOST_TOKEN and the same
// with VITE_), and npm/moonhost-client packs, installs offline and runs the
// README's Node example as written against a real host, which serves the
// very same file at /__moonhost/client.js.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { repoRoot, runMoonhost } from './lib/host.mjs'
import { hostFor, scratchDir, tempTree } from './lib/util.mjs'
import { npmOffline, readerProject, readmeFiles, readmeSection, run } from './lib/readme.mjs'

const packageDir = join(repoRoot, 'npm', 'moonhost-client')
const LINK_VARS = ['MOONHOST_URL', 'MOONHOST_WS_URL', 'MOONHOST_PORT', 'MOONHOST_TOKEN']
const SANITIZER = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/
const wsModule = pathToFileURL(join(repoRoot, 'tests/e2e/node_modules/ws/wrapper.mjs')).href

// The dev server: prints what it was told, then uses it (over HTTP with the
// token as a bearer, and over the WebSocket with it as ?token=), and exits.
const ENV_CHILD = `
import WebSocket from '${wsModule}'
const names = ${JSON.stringify(LINK_VARS)}
const env = {}
for (const n of names) {
  env[n] = process.env[n] ?? null
  env['VITE_' + n] = process.env['VITE_' + n] ?? null
}
const { MOONHOST_URL: url, MOONHOST_WS_URL: wsUrl, MOONHOST_TOKEN: token } = process.env
const res = await fetch(url + '/rpc/demo/echo', {
  method: 'POST', headers: { authorization: 'Bearer ' + token }, body: JSON.stringify({ json: 'over http' }),
})
const http = { status: res.status, body: await res.json() }
const ws = new WebSocket(wsUrl + '?token=' + token)
const reply = new Promise((resolve, reject) => {
  ws.on('message', (d) => resolve(JSON.parse(d.toString())))
  ws.on('error', reject)
})
ws.on('open', () => ws.send(JSON.stringify({ t: 'q', i: '1', m: 'demo:add', a: [2, 3] })))
const overWs = await reply
ws.close()
console.log('CHILD ' + JSON.stringify({ env, http, ws: overWs }))
`

/** Runs `moonhost run ARGS -- node child.mjs` to completion; the child's report and the host's log. */
async function runChild(t, args, env = {}) {
  const dir = tempTree(t, { 'child.mjs': ENV_CHILD })
  const out = await runMoonhost(['run', ...args, '--plugins', join(repoRoot, 'plugins'), '--', 'node', join(dir, 'child.mjs')], {
    env,
  })
  const log = out.stdout + out.stderr
  assert.equal(out.code, 0, `moonhost exits with the child's code 0:\n${log}`)
  assert.doesNotMatch(log, SANITIZER)
  const line = /\[dev\] CHILD (.*)/.exec(log)
  assert.ok(line, `the child reported:\n${log}`)
  const port = Number(/listening on ws:\/\/[^\s]*:(\d+)\/__ws/.exec(log)[1])
  return { report: JSON.parse(line[1]), log, port }
}

test('moonhost run tells the dev server the bound port (--listen :0), its URLs and the start-up token, also as VITE_*; they work', { timeout: 60000 }, async (t) => {
  const { report, log, port } = await runChild(t, ['--listen', '127.0.0.1:0', '--config', scratchDir()])
  const token = /connect with ws:\/\/\S+\?token=([0-9a-f]+)/.exec(log)[1]
  assert.notEqual(port, 0)
  const want = {
    MOONHOST_URL: `http://127.0.0.1:${port}`,
    MOONHOST_WS_URL: `ws://127.0.0.1:${port}/__ws`,
    MOONHOST_PORT: String(port),
    MOONHOST_TOKEN: token,
  }
  for (const [k, v] of Object.entries(want)) {
    assert.equal(report.env[k], v, k)
    assert.equal(report.env[`VITE_${k}`], v, `VITE_${k}`)
  }
  assert.deepEqual(report.http, { status: 200, body: { json: 'over http' } })
  assert.deepEqual(report.ws, { t: 's', i: '1', r: 5 })
})

test('without a start-up token the inherited MOONHOST_TOKEN is passed on; inherited URLs are replaced; 0.0.0.0 is dialled as 127.0.0.1', { timeout: 60000 }, async (t) => {
  const config = tempTree(t, {
    '10-auth.lua': "return { auth = { tokens = { os.getenv('MOONHOST_TOKEN') }, generate_token = false } }\n",
  })
  const env = { MOONHOST_TOKEN: 'inherited-token', MOONHOST_URL: 'http://stale:1', VITE_MOONHOST_PORT: '1' }
  const { report, log, port } = await runChild(t, ['--listen', '0.0.0.0:0', '--config', config], env)
  assert.doesNotMatch(log, /token made at start/, 'no token was made at start')
  assert.equal(report.env.MOONHOST_URL, `http://127.0.0.1:${port}`)
  assert.equal(report.env.VITE_MOONHOST_PORT, String(port))
  assert.equal(report.env.MOONHOST_TOKEN, 'inherited-token')
  assert.equal(report.env.VITE_MOONHOST_TOKEN, 'inherited-token')
  assert.deepEqual(report.http, { status: 200, body: { json: 'over http' } })
  assert.deepEqual(report.ws, { t: 's', i: '1', r: 5 })
})

test('npm/moonhost-client: ESM with types, no dependencies, moonhost\'s version; the host serves the same bytes', async (t) => {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'))
  assert.equal(pkg.name, 'moonhost-client')
  assert.equal(pkg.type, 'module')
  assert.deepEqual(pkg.exports['.'], { types: './client.d.ts', default: './client.js' })
  assert.equal(pkg.dependencies, undefined)
  const host = await hostFor(t)
  const health = await (await fetch(`http://127.0.0.1:${host.port}/__moonhost/health`)).json()
  assert.equal(pkg.version, health.version, "the package's version is moonhost's (CMakeLists.txt project())")
  for (const name of ['client.js', 'client.d.ts']) {
    const served = await (await fetch(`http://127.0.0.1:${host.port}/__moonhost/${name}`)).text()
    assert.equal(served, readFileSync(join(packageDir, name), 'utf8'), `/__moonhost/${name} is npm/moonhost-client/${name}`)
  }
})

test('the packed tarball installs offline; the README Node example runs as written (Node 20, as a dev server) and tsc resolves the types', { timeout: 120000 }, async (t) => {
  const root = readerProject()
  const tarball = (await npmOffline(['pack', '--silent', packageDir], root)).trim()
  const listing = (await run('tar', ['tzf', join(root, tarball)])).trim().split('\n').sort()
  assert.deepEqual(listing, ['package/README.md', 'package/client.d.ts', 'package/client.js', 'package/package.json'])

  const app = join(root, 'app')
  mkdirSync(app)
  await npmOffline(['init', '-y'], app)
  await npmOffline(['pkg', 'set', 'type=module'], app)
  await npmOffline(['install', join(root, tarball)], app)

  // "run it with `moonhost run -- node client-demo.mjs` ... with the shipped plugins"
  const example = readmeFiles('The moonhost JavaScript client')['client-demo.mjs']
  assert.ok(example, 'the README shows client-demo.mjs')
  assert.match(readmeSection('The moonhost JavaScript client'), /`moonhost run -- node client-demo.mjs`/)
  writeFileSync(join(app, 'client-demo.mjs'), example)
  const out = await runMoonhost(
    ['run', '--listen', '127.0.0.1:0', '--config', scratchDir(), '--plugins', join(repoRoot, 'plugins'), '--', 'node', 'client-demo.mjs'],
    { cwd: app },
  )
  const log = out.stdout + out.stderr
  assert.equal(out.code, 0, `the example exits 0:\n${log}`)
  assert.doesNotMatch(log, SANITIZER)
  // Each console.log's comment says what it prints (up to a ';' or ':').
  const expected = [...example.matchAll(/console\.log\(.*\/\/ ([^;:\n]+)/g)].map((m) => m[1].trim())
  const printed = [...log.matchAll(/\[dev\] (.*)/g)].map((m) => m[1]).filter((l) => !/^'node|^started/.test(l))
  assert.ok(expected.length >= 5, `expected outputs in the comments: ${expected}`)
  assert.deepEqual(printed.slice(0, expected.length), expected, log)

  writeFileSync(join(app, 'check.ts'), `
import { connect, RpcError, type RpcErrorCode, type TryResult, type RpcStream, type StreamOptions } from 'moonhost-client'
const rpc = connect({ url: 'ws://127.0.0.1:1/__ws', token: 't' })
const code: RpcErrorCode = 'not_found'
const err: RpcError = new RpcError(code, 'x')
const r: Promise<TryResult<number>> = rpc.tryCall<number>('demo:add', 1, 2)
const opts: StreamOptions = { signal: AbortSignal.timeout(1), lastEventId: '2', window: 4, resume: false }
const steps: RpcStream<{ step: number }, string> = rpc.streamWith<{ step: number }, string>(opts, 'build:run', 3)
async function read(): Promise<string | undefined> {
  for await (const p of rpc.stream<{ step: number }>('build:run', 3)) p.step.toFixed()
  const end = await steps.next()
  return end.done ? end.value : steps.lastEventId
}
export { err, r, read }
`)
  const tsc = join(repoRoot, 'tests/e2e/node_modules/typescript/bin/tsc')
  for (const resolution of [['nodenext', 'nodenext'], ['esnext', 'bundler']]) {
    // ES2022: what the client itself is written in (private fields); streams are async iterators.
    await run('node', [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', resolution[0], '--moduleResolution', resolution[1], 'check.ts'], { cwd: app })
  }
})
