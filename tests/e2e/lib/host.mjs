// Starts a real moonhost process for a test and connects real clients to it.
//
//   const host = await startHost({ plugins: 'fixtures/plugins' })
//   const client = await host.connect()          // birpc over ws, JSON frames
//   await client.rpc['demo:add'](1, 2)
//   await host.stop()
//
// The binary comes from MOONHOST_BIN (the test script sets it to the normal
// or the sanitizer build) or ../../build/moonhost.
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync, mkdirSync, cpSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { createBirpc } from 'birpc'

const here = dirname(fileURLToPath(import.meta.url))
export const repoRoot = resolve(here, '../../..')
export const fixtures = resolve(here, '../fixtures')
/** The token tests/e2e/fixtures/conf.d trusts. */
export const E2E_TOKEN = 'e2e-token'
export const moonhostBin = process.env.MOONHOST_BIN || join(repoRoot, 'build/moonhost')

/** A fresh temporary directory (for plugins or config a test writes). */
export function tempDir(prefix = 'moonhost-e2e-') {
  return mkdtempSync(join(tmpdir(), prefix))
}

/** Writes files ({ 'name.lua': 'source' }) into a new temp dir; returns its path. */
export function writeTree(files, dir = tempDir()) {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true })
    writeFileSync(join(dir, name), text)
  }
  return dir
}

export function copyFixturePlugins(names, dir = tempDir()) {
  for (const n of names) cpSync(join(fixtures, 'plugins', n), join(dir, n), { recursive: true })
  return dir
}

/** Runs moonhost to completion (for CLI tests): { code, stdout, stderr }. */
export function runMoonhost(args, opts = {}) {
  return new Promise((resolveRun) => {
    const child = spawn(moonhostBin, args, { cwd: opts.cwd || repoRoot, env: { ...process.env, ...opts.env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    // 'close', not 'exit': output may still be unread when the process exits.
    child.on('close', (code, signal) => resolveRun({ code, signal, stdout, stderr }))
  })
}

/**
 * Starts `moonhost run` on an ephemeral port and waits for its
 * "listening on" line. Options: plugins (dir), config (dir), root, args
 * (extra CLI args), logLevel, env, cwd, listen (false: no --listen flag;
 * 'ADDRESS:0': listen there, and clients connect to ADDRESS), wrap (a
 * command that runs moonhost, e.g. ['ip', 'netns', 'exec', NAME]: it must
 * exec it, so that the child is moonhost itself).
 */
export async function startHost(opts = {}) {
  // listen: false leaves the address to conf.d (which must then pick one).
  const at = typeof opts.listen === 'string' ? opts.listen : '127.0.0.1:0'
  const listen = opts.listen === false ? [] : ['--listen', at]
  const args = ['run', ...listen, '--log-level', opts.logLevel || 'debug']
  args.push('--plugins', opts.plugins || join(fixtures, 'plugins'))
  args.push('--config', opts.config || join(fixtures, 'conf.d'))
  if (opts.root) args.push('--root', opts.root)
  if (opts.args) args.push(...opts.args)
  const [cmd, ...cmdArgs] = [...(opts.wrap || []), moonhostBin, ...args]
  const child = spawn(cmd, cmdArgs, { cwd: opts.cwd || repoRoot, env: { ...process.env, ...opts.env } })
  const host = new Host(child, at.replace(/:\d+$/, ''))
  await host.ready
  return host
}

export class Host {
  /** address: where clients connect (the host part of --listen). */
  constructor(child, address = '127.0.0.1') {
    this.child = child
    this.address = address
    this.log = ''
    this.clients = []
    this.exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })))
    this.ready = new Promise((res, rej) => {
      const onData = (d) => {
        this.log += d
        if (process.env.MOONHOST_E2E_VERBOSE) process.stderr.write(d)
        const m = /listening on ws:\/\/[^\s]*:(\d+)\/__ws/.exec(this.log)
        if (m && !this.port) {
          this.port = Number(m[1])
          res(this)
        }
      }
      child.stderr.on('data', onData)
      child.stdout.on('data', (d) => (this.log += d))
      this.exited.then(({ code, signal }) =>
        rej(new Error(`moonhost exited (code ${code}, signal ${signal}) before listening:\n${this.log}`)))
    })
  }

  get url() {
    return `ws://${this.address}:${this.port}/__ws`
  }

  /**
   * Resolves once pred(log) holds, re-checked on every write to the host's
   * log (no polling, no sleeps); rejects after timeoutMs naming `what`.
   */
  waitForLogState(pred, what, timeoutMs = 10000) {
    return new Promise((res, rej) => {
      const check = () => {
        if (!pred(this.log)) return
        cleanup()
        res()
      }
      const timer = setTimeout(() => {
        cleanup()
        rej(new Error(`host log never showed ${what}:\n${this.log.slice(-4000)}`))
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        this.child.stderr.off('data', check)
      }
      this.child.stderr.on('data', check)
      check()
    })
  }

  /** Resolves with the match once the host log has a line matching re. */
  async waitForLog(re, timeoutMs = 10000) {
    let m = null
    await this.waitForLogState((log) => (m = re.exec(log)) !== null, `a line matching ${re}`, timeoutMs)
    return m
  }

  /** Resolves once the host log has at least n matches of re. */
  waitForLogCount(re, n, timeoutMs = 10000) {
    const global = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g')
    return this.waitForLogState((log) => (log.match(global) || []).length >= n, `${n} matches of ${re}`, timeoutMs)
  }

  /**
   * A raw ws socket (open). It presents the fixtures' token (conf.d
   * auth.tokens) unless the path has a query already or token is null.
   */
  async rawSocket(path = '/__ws', wsOpts = {}, token = E2E_TOKEN) {
    const url = token && !path.includes('?') ? `${path}?token=${encodeURIComponent(token)}` : path
    const ws = new WebSocket(`ws://${this.address}:${this.port}${url}`, wsOpts)
    await new Promise((res, rej) => {
      ws.once('open', res)
      ws.once('error', rej)
    })
    this.clients.push(ws)
    return ws
  }

  /**
   * A birpc client over a real WebSocket with plain JSON frames.
   * functions: client functions the host may call.
   */
  async connect(functions = {}, birpcOpts = {}, { path = '/__ws', token = E2E_TOKEN } = {}) {
    const ws = await this.rawSocket(path, {}, token)
    const rpc = createBirpc(functions, {
      post: (data) => ws.send(data),
      on: (fn) => ws.on('message', (data) => fn(data.toString())),
      serialize: (v) => JSON.stringify(v),
      deserialize: (v) => JSON.parse(v),
      timeout: 20000,
      ...birpcOpts,
    })
    const closed = new Promise((res) => ws.once('close', (code, reason) => res({ code, reason: reason.toString() })))
    return { ws, rpc, closed, close: () => ws.close() }
  }

  async stop() {
    for (const ws of this.clients) ws.terminate()
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM')
    const result = await this.exited
    if (result.code !== 0 && result.signal === null) {
      throw new Error(`moonhost exited with code ${result.code}:\n${this.log}`)
    }
    if (/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/.test(this.log)) {
      throw new Error(`sanitizer report in moonhost output:\n${this.log}`)
    }
    return result
  }
}

/** One message from a raw ws (as text), with a timeout. */
export function nextMessage(ws, timeoutMs = 10000) {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error('no message within timeout')), timeoutMs)
    ws.once('message', (d) => {
      clearTimeout(t)
      res(d.toString())
    })
  })
}

/** Resolves with {code, reason} when the socket closes. */
export function closeOf(ws) {
  return new Promise((res) => ws.once('close', (code, reason) => res({ code, reason: reason.toString() })))
}
