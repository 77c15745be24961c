// vite-plugin-moonhost: moonhost() in vite.config.js.
//
//   import { defineConfig } from 'vite'
//   import moonhost from 'vite-plugin-moonhost'
//   export default defineConfig({ plugins: [moonhost()] })
//
// It attaches to the moonhost that started the dev server (`moonhost run --
// npx vite` passes MOONHOST_URL and MOONHOST_TOKEN), sends moonhost's paths
// through Vite's origin (proxies), serves `virtual:moonhost` (a connected
// moonhost-client) to pages, and joins moonhost's mesh as peer role 'vite'
// so Lua plugins can read the module graph, transform modules and hear HMR
// updates (link.js, functions.js). docs/vite.md is the guide.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { openLink } from './link.js'

const VIRTUAL = 'virtual:moonhost'
const VIRTUAL_CLIENT = 'virtual:moonhost/client'
const RESOLVED = '\0' + VIRTUAL
const RESOLVED_CLIENT = '\0' + VIRTUAL_CLIENT
const STATE = Symbol.for('vite-plugin-moonhost') // survives Vite's in-process restarts

/**
 * moonhost-client's module: the installed package, else the copy beside
 * this package in moonhost's tree (`npm install MOONHOST/npm/...` links the
 * directory, and Node resolves a linked package from its real path).
 */
function clientModuleUrl() {
  try {
    return import.meta.resolve('moonhost-client')
  } catch {
    return new URL('../moonhost-client/client.js', import.meta.url).href
  }
}

/** Node 22+ and browsers have WebSocket; Node 20 takes the project's ws package. */
async function webSocketClass(root) {
  if (globalThis.WebSocket) return globalThis.WebSocket
  for (const from of [join(root, 'package.json'), fileURLToPath(import.meta.url)]) {
    try {
      return (await import(pathToFileURL(createRequire(from).resolve('ws')).href)).default
    } catch {}
  }
  throw new Error('vite-plugin-moonhost: Node 20 has no WebSocket; `npm install ws` in the project (or use Node 22+)')
}

const LOOPBACK = new Set([undefined, false, 'localhost', '127.0.0.1', '::1', '[::1]'])

function isLoopback(host) {
  return LOOPBACK.has(host) || (typeof host === 'string' && /^127\.\d+\.\d+\.\d+$/.test(host))
}

function wsUrlOf(httpUrl) {
  const u = new URL('/__ws', httpUrl)
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:'
  return u.href
}

/** @param {import('./index.d.ts').MoonhostOptions} [options] */
export default function moonhost(options = {}) {
  const url = options.url ?? process.env.MOONHOST_URL ?? 'http://127.0.0.1:7812'
  const token = options.token ?? process.env.MOONHOST_TOKEN
  const tokenInPage = options.tokenInPage ?? 'loopback'
  const rpcPrefix = options.rpcPrefix ?? '/rpc'
  const state = (globalThis[STATE] ??= { servers: 0 })
  const transformedAt = new Map()
  let pageToken
  let link = null
  let server = null
  let restoreHot = null

  function log(level, message) {
    const logger = server?.config.logger
    if (logger) logger[level === 'warn' ? 'warn' : 'info'](`[moonhost] ${message}`, { timestamp: true })
  }

  function close() {
    restoreHot?.()
    restoreHot = null
    link?.close()
    link = null
  }

  /** Sees what Vite sends to pages: HMR updates, full reloads, errors. */
  function watchHot(hot) {
    const send = hot.send
    hot.send = function (...args) {
      const payload = args[0]
      if (payload?.type === 'update') {
        const updates = payload.updates.map((u) => ({ type: u.type, path: u.path, acceptedPath: u.acceptedPath, timestamp: u.timestamp }))
        link?.emit('vite:hmr-update', { type: 'update', updates })
      } else if (payload?.type === 'full-reload') {
        link?.emit('vite:hmr-update', { type: 'full-reload', path: payload.path ?? '*', updates: [] })
      } else if (payload?.type === 'error') {
        const e = payload.err ?? {}
        link?.emit('vite:error', { message: e.message, id: e.id ?? null, plugin: e.plugin ?? null, frame: e.frame ?? null, loc: e.loc ?? null })
      }
      return send.apply(this, args)
    }
    return () => (hot.send = send)
  }

  return {
    name: 'moonhost',

    config(user) {
      const proxy = {
        '/__ws': { target: url, ws: true },
        '/__moonhost': { target: url },
        '/__devtools': { target: url, ws: true },
        [rpcPrefix]: { target: url },
      }
      for (const key of Object.keys(user.server?.proxy ?? {})) delete proxy[key] // the user's own win
      return { server: { proxy } }
    },

    configResolved(config) {
      // `vite build` writes files for others to load: 'loopback' never puts the token there.
      const building = config.command === 'build'
      const loopback = !building && isLoopback(config.server.host)
      pageToken = tokenInPage === true || (tokenInPage === 'loopback' && loopback) ? token : undefined
      if (token && !pageToken && tokenInPage === 'loopback') {
        const why = building ? 'a build' : 'the dev server listens beyond loopback'
        config.logger.warn(`[moonhost] ${why}: virtual:moonhost carries no token (docs/vite.md)`)
      }
    },

    async configureServer(viteServer) {
      server = viteServer
      state.servers++
      if (options.peer === false) return
      const { connect } = await import(clientModuleUrl())
      const WebSocket = await webSocketClass(server.config.root)
      link = openLink({ connect, WebSocket, url: wsUrlOf(url), token, server, transformedAt, log, meta: options.meta })
      const hot = server.environments?.client?.hot ?? server.ws
      restoreHot = watchHot(hot)
      if (state.servers > 1) link.emit('vite:server-restart', { restarts: state.servers - 1 })
    },

    watchChange(id, change) {
      const kind = { create: 'add', update: 'change', delete: 'unlink' }[change.event] ?? change.event
      link?.emit('vite:file-change', { kind, file: id })
    },

    transform: {
      order: 'post',
      handler(_code, id) {
        if (!this.environment || this.environment.name === 'client') transformedAt.set(id, Date.now())
        return null
      },
    },

    resolveId(id) {
      if (id === VIRTUAL) return RESOLVED
      if (id === VIRTUAL_CLIENT) return RESOLVED_CLIENT
    },

    load(id) {
      if (id === RESOLVED_CLIENT) return readFileSync(fileURLToPath(clientModuleUrl()), 'utf8')
      if (id !== RESOLVED) return
      // The page dials /__ws on its own origin; the proxy above passes it on.
      return [
        `import { connect } from ${JSON.stringify(VIRTUAL_CLIENT)}`,
        `export * from ${JSON.stringify(VIRTUAL_CLIENT)}`,
        `export const token = ${pageToken === undefined ? 'undefined' : JSON.stringify(pageToken)}`,
        `export const rpc = connect({ token })`,
        `export default rpc`,
      ].join('\n')
    },

    closeBundle() {
      close()
    },
  }
}

export { moonhost }
