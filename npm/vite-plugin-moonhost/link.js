// The dev server's link to moonhost: one moonhost-client connection that
// announces itself as mesh peer role 'vite', answers the vite:* functions
// (functions.js) and sends the dev server's events to the Lua plugins that
// subscribed.
//
// Who subscribed is read from the host, not remembered here: a plugin
// subscribes by registering an event function named `PLUGIN:on-vite-event`
// (lua/moonhost/vite.lua does it for ctx.vite.on), and this link lists the
// host's functions (moonhost:functions) whenever it connects and whenever
// the host says functions changed (a plugin loaded, reloaded or went). So
// nothing is lost when either side restarts: a new Vite reads the list
// afresh, a restarted moonhost re-registers the functions as its plugins
// load, and the client re-announces after every reconnect.
import { configOf, invalidate, moduleGraphOf, transformOf, wireSafe } from './functions.js'

export const SUBSCRIBER_SUFFIX = ':on-vite-event'
const FUNCTIONS_CHANGED = 'moonhost:functions-changed'
/** Events kept while no subscriber list is known (moonhost down or restarting); older ones are dropped. */
const MAX_QUEUED = 256

/**
 * connect: moonhost-client's connect; server: the Vite dev server;
 * transformedAt: Map id -> ms of its last transform; log(level, message).
 */
export function openLink({ connect, WebSocket, url, token, server, transformedAt, log, meta = {} }) {
  const rpc = connect({ url, token, WebSocket, timeoutMs: 10000, reconnect: { initialMs: 100, maxMs: 2000 } })
  let subscribers = null // names of PLUGIN:on-vite-event functions; null while unknown
  let listing = 0 // the latest moonhost:functions request wins
  const queued = []
  let waitSaid = false // said once per outage that events wait

  const provided = {
    'vite:config': () => configOf(server),
    'vite:module-graph': (opts) => moduleGraphOf(server, transformedAt, opts),
    'vite:transform': (ref) => transformOf(server, ref),
    'vite:invalidate': (ref) => invalidate(server, ref),
  }
  for (const [name, handler] of Object.entries(provided)) {
    const type = name === 'vite:invalidate' ? 'action' : 'query'
    rpc.register({ name, type, handler: async (...args) => wireSafe(await handler(...args)) })
  }

  function flush() {
    while (subscribers && queued.length && rpc.status === 'open') {
      const event = queued.shift()
      for (const name of subscribers) rpc.event(name, event)
    }
  }

  async function listSubscribers() {
    const mine = ++listing
    try {
      const fns = await rpc.call('moonhost:functions')
      if (mine !== listing) return
      subscribers = fns.map((f) => f.name).filter((n) => n.endsWith(SUBSCRIBER_SUFFIX))
      log('info', `mesh peer 'vite' ready; events go to: ${subscribers.join(', ') || 'no subscriber'}`)
      flush()
    } catch (err) {
      if (err?.code !== 'disconnected') log('warn', `could not list moonhost's functions: ${err.message}`)
    }
  }

  rpc.on('connect', ({ reconnected }) => {
    if (reconnected) log('info', 'reconnected to moonhost')
    listSubscribers()
  })
  let closing = false
  rpc.on('disconnect', ({ code }) => {
    subscribers = null // events wait in `queued` until the list is read again
    waitSaid = false
    if (!closing) log('warn', `lost moonhost (close code ${code}); reconnecting`)
  })
  rpc.on('event', (name) => name === FUNCTIONS_CHANGED && listSubscribers())
  rpc.mesh
    .announce({ role: 'vite', capabilities: Object.keys(provided), meta: { pid: process.pid, root: server.config.root, ...meta } })
    .catch((err) => err?.code !== 'disconnected' && log('warn', `mesh announce failed: ${err.message}`))

  return {
    rpc,
    /** Sends {event, data} to every subscriber now, or once they are known. */
    emit(event, data) {
      queued.push({ event, data: wireSafe(data) })
      if (queued.length > MAX_QUEUED) queued.shift()
      flush()
      if (queued.length && !waitSaid && rpc.status !== 'open') {
        waitSaid = true
        log('info', `keeping the dev server's events until moonhost is back (the last ${MAX_QUEUED})`)
      }
    },
    close() {
      closing = true
      return rpc.close()
    },
  }
}
