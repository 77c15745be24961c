// Types of vite-plugin-moonhost (index.js). docs/vite.md in moonhost's tree is the guide.
//
//   import { defineConfig } from 'vite'
//   import moonhost from 'vite-plugin-moonhost'
//   export default defineConfig({ plugins: [moonhost()] })
import type { Plugin } from 'vite'

export interface MoonhostOptions {
  /** moonhost's HTTP base. Default: MOONHOST_URL (set by `moonhost run -- npx vite`), else http://127.0.0.1:7812. */
  url?: string
  /** The token the dev server presents. Default: MOONHOST_TOKEN. */
  token?: string
  /**
   * Whether `virtual:moonhost` carries the token (then it is in the page's JavaScript, readable by
   * whoever loads the page). 'loopback' (default): only while Vite serves on loopback, never in `vite build`.
   */
  tokenInPage?: boolean | 'loopback'
  /** Path prefix of moonhost's oRPC endpoint to proxy (moonhost's http.prefix). Default '/rpc'. */
  rpcPrefix?: string
  /** false: no mesh peer (only proxies and the virtual module). Default: join as role 'vite'. */
  peer?: boolean
  /** Extra meta of the announced peer (beside pid and root). */
  meta?: Record<string, unknown>
}

/** The Vite plugin: proxies, `virtual:moonhost`, and the dev server as mesh peer 'vite'. */
export default function moonhost(options?: MoonhostOptions): Plugin
export { moonhost }

/** What the functions the dev server provides to the mesh answer (Lua: ctx.vite). */
export interface ViteModule {
  id: string | null
  url: string
  file: string | null
  type: 'js' | 'css' | 'asset'
  importers: string[]
  imported: string[]
  /** Length of the transformed code, null until transformed. */
  size: number | null
  /** ms since the epoch of its last transform (client environment), or null. */
  transformedAt: number | null
  hmrAt: number | null
}

export interface ViteModuleGraph {
  /** How many modules the client graph holds (all of them, whatever the limit). */
  size: number
  modules: ViteModule[]
}

export interface ViteTransformResult {
  url: string
  id: string | null
  code: string
  size: number
  deps: string[]
  dynamicDeps: string[]
  hasMap: boolean
}

/** The events PLUGIN:on-vite-event functions receive as {event, data}. */
export interface ViteEvents {
  'vite:hmr-update': {
    type: 'update' | 'full-reload'
    path?: string
    updates: { type: 'js-update' | 'css-update'; path: string; acceptedPath: string; timestamp: number }[]
  }
  'vite:file-change': { kind: 'add' | 'change' | 'unlink'; file: string }
  'vite:error': { message: string; id: string | null; plugin: string | null; frame: string | null; loc: unknown }
  'vite:server-restart': { restarts: number }
}
