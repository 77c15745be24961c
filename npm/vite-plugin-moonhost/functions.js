// The functions the dev server provides to the mesh as peer role 'vite'
// (Lua: ctx.mesh.peer('vite'):call('vite:module-graph') or ctx.vite). Each
// answers plain JSON: whatever Vite keeps that JSON cannot carry (functions,
// regexps, plugin objects) is left out or written as a string.

/** The client environment's module graph (Vite 7), or the backward-compatible one. */
function clientGraph(server) {
  return server.environments?.client?.moduleGraph ?? server.moduleGraph
}

function clientEnvironment(server) {
  return server.environments?.client
}

/** A module by id, URL or file, or undefined. */
async function findModule(server, ref) {
  const graph = clientGraph(server)
  for (const r of new Set([ref, fromWire(ref)])) {
    const mod = graph.getModuleById(r) ?? (await graph.getModuleByUrl(r)) ?? [...(graph.getModulesByFile(r) ?? [])][0]
    if (mod) return mod
  }
  return undefined
}

const text = (v) => (v === undefined || v === null ? undefined : String(v))

// moonhost refuses strings with NUL, which Vite puts before virtual ids:
// what goes out has it as Vite writes it in URLs (__x00__), and what comes
// back is read either way.
const NUL = '\0'
const NUL_IN_URL = '__x00__'

/** value, with every NUL in its strings (keys too) written as __x00__. */
export function wireSafe(value) {
  if (typeof value === 'string') return value.includes(NUL) ? value.replaceAll(NUL, NUL_IN_URL) : value
  if (Array.isArray(value)) return value.map(wireSafe)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [wireSafe(k), wireSafe(v)]))
  }
  return value
}

const fromWire = (ref) => ref.replaceAll(NUL_IN_URL, NUL)

/** vite:config -> the resolved config, the part JSON can carry. */
export function configOf(server) {
  const c = server.config
  return {
    root: c.root,
    base: c.base,
    mode: c.mode,
    command: c.command,
    publicDir: c.publicDir || null,
    cacheDir: c.cacheDir,
    envDir: c.envDir || null,
    envPrefix: [c.envPrefix ?? 'VITE_'].flat().map(String), // Vite's default when unset
    server: {
      host: typeof c.server.host === 'string' ? c.server.host : c.server.host === true ? '0.0.0.0' : null,
      port: c.server.port ?? null,
      strictPort: Boolean(c.server.strictPort),
      proxy: Object.keys(c.server.proxy ?? {}),
      urls: server.resolvedUrls ?? null,
    },
    resolve: {
      alias: (c.resolve.alias ?? []).map((a) => ({ find: text(a.find), replacement: text(a.replacement) })),
      extensions: c.resolve.extensions ?? [],
    },
    build: { outDir: c.build.outDir, assetsDir: c.build.assetsDir, sourcemap: c.build.sourcemap ?? false },
    plugins: c.plugins.map((p) => p.name),
    environments: Object.keys(c.environments ?? {}),
  }
}

/** vite:module-graph({limit?}) -> {size, modules: [{id, url, file, type, importers, imported, size, transformedAt, hmrAt}]} */
export function moduleGraphOf(server, transformedAt, opts = {}) {
  const graph = clientGraph(server)
  const all = [...graph.idToModuleMap.values()]
  const limit = Number.isInteger(opts?.limit) && opts.limit >= 0 ? opts.limit : all.length
  const ids = (set) => [...set].map((m) => m.id ?? m.url)
  const modules = all.slice(0, limit).map((m) => ({
    id: m.id,
    url: m.url,
    file: m.file ?? null,
    type: m.type,
    importers: ids(m.importers),
    imported: ids(m.importedModules),
    size: m.transformResult?.code?.length ?? null,
    transformedAt: transformedAt.get(m.id) ?? null,
    hmrAt: m.lastHMRTimestamp || null,
  }))
  return { size: all.length, modules }
}

/** vite:transform(url) -> {url, id, code, size, deps, dynamicDeps, hasMap} */
export async function transformOf(server, url) {
  if (typeof url !== 'string' || url === '') throw codeError('bad_request', 'vite:transform expects a module URL or id')
  const env = clientEnvironment(server)
  const result = env ? await env.transformRequest(url) : await server.transformRequest(url)
  if (!result) throw codeError('not_found', `vite:transform: nothing to transform at ${url}`)
  const mod = await findModule(server, url)
  return {
    url,
    id: mod?.id ?? null,
    code: result.code,
    size: result.code.length,
    deps: result.deps ?? [],
    dynamicDeps: result.dynamicDeps ?? [],
    hasMap: Boolean(result.map),
  }
}

/** vite:invalidate(ref?) -> {invalidated: n}: one module (id, URL or file), or all without ref. */
export async function invalidate(server, ref) {
  const graph = clientGraph(server)
  if (ref === undefined || ref === null) {
    const n = graph.idToModuleMap.size
    graph.invalidateAll()
    return { invalidated: n }
  }
  const mod = await findModule(server, String(ref))
  if (!mod) throw codeError('not_found', `vite:invalidate: no module ${ref} in the graph`)
  graph.invalidateModule(mod)
  return { invalidated: 1 }
}

export function codeError(code, message) {
  return Object.assign(new Error(message), { code })
}
