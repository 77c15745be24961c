// Helpers shared by the NATS cluster tests (mesh-nats, mesh-netns): a host's
// conf.d, directory deltas by role, a bound on waiting, a frame counter and
// a plugin that broadcasts.
import { writeTree } from './host.mjs'
import { testConfigSource } from './util.mjs'

/** conf.d for host `name` in the cluster at `url`; `nats` adds to the nats table. */
export function clusterConfig(name, url, nats = '', mesh = "key = 'shared-key'") {
  return writeTree({
    '00-test.lua': testConfigSource(),
    '10-cluster.lua': `return { mesh = { host_id = '${name}', ${mesh} }, nats = { url = '${url}' ${nats} } }`,
  })
}

/** Resolves with what p resolves to, or rejects once ms have passed (naming what). */
export function within(ms, p, what) {
  let timer
  const late = new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms)))
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

/** The delta that shows the peer of `role` added (or removed), seen already or still to come. */
export const added = (p, role) => p.delta((d) => d.kind === 'added' && d.peer.role === role).then((d) => d.peer)
export const removed = (p, role) => p.delta((d) => d.kind === 'removed' && d.peer.role === role).then((d) => d.peer)

/** Counts the host's calls and events that reach ws, by function name; seen(name) waits for the first. */
export function frameCounter(ws) {
  const counts = new Map()
  const waiters = []
  ws.on('message', (d) => {
    let m
    try {
      m = JSON.parse(d.toString())
    } catch {
      return
    }
    if (typeof m?.m !== 'string') return
    counts.set(m.m, (counts.get(m.m) ?? 0) + 1)
    for (const w of waiters.filter((w) => w.name === m.m)) w.resolve()
  })
  return {
    count: (name) => counts.get(name) ?? 0,
    seen: (name) => (counts.has(name) ? Promise.resolve() : new Promise((resolve) => waiters.push({ name, resolve }))),
  }
}

/** A plugin whose bc:send(name, tag, cluster) broadcasts name(tag), cluster-wide when cluster is true. */
export const BROADCAST_PLUGIN = `local moonhost = require 'moonhost'
return moonhost.plugin { name = 'bc', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'bc:send', type = 'action',
    handler = function(name, tag, cluster) return ctx.rpc.broadcast { method = name, args = { tag }, cluster = cluster } end })
end }`
