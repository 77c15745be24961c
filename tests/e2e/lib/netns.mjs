// Hosts in Linux network namespaces (tests/e2e/mesh-netns.test.mjs): each
// host runs in a namespace of its own whose only interface (eth0, one end
// of a veth pair) has its own address on a bridge in the root namespace,
// where nats-server and the test's clients are. Traffic between them
// crosses real (virtual) interfaces, and a host's link can be taken down.
// Needs iproute2's `ip` and the right to use it (root, as in CI).
//
// Names carry the test process's pid (mhns<pid>-<lab>-<i> namespaces,
// mhbr<pid>-<lab> bridges, mhv<pid>-<lab>-<i> veth ends), so that parallel
// test processes never share one and what a crashed run left behind can be
// told from what a live one is using. Each lab's subnet, 10.77.X.0/24, is
// claimed like a port (util.mjs claimFile).
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startHost } from './host.mjs'
import { claimFile, processAlive } from './util.mjs'

/** Runs ip with args; throws with its stderr when it fails. Returns stdout. */
function ip(...args) {
  const r = spawnSync('ip', args, { encoding: 'utf8' })
  if (r.error) throw new Error(`ip ${args.join(' ')}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.trim()}`)
  return r.stdout
}

/** Why namespaces cannot be used here (creating one with a veth end in it failed), or null. */
export function netnsUnavailable() {
  const ns = `mhns${process.pid}-probe`
  try {
    ip('netns', 'add', ns)
  } catch (e) {
    return e.message
  }
  try {
    ip('link', 'add', `mhv${process.pid}-probe`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    return null
  } catch (e) {
    return e.message
  } finally {
    spawnSync('ip', ['netns', 'del', ns]) // takes the veth pair with it
  }
}

/**
 * True when network namespaces work here. Otherwise the test fails, saying
 * why, unless MOONHOST_E2E_NO_NETNS=1 asks to skip it (then t is skipped
 * with the reason and this returns false): a machine without them must not
 * pass the test silently.
 */
export function requireNetns(t) {
  const why = netnsUnavailable()
  if (!why) return true
  if (process.env.MOONHOST_E2E_NO_NETNS === '1') {
    t.skip(`network namespaces unavailable (${why}); skipped as MOONHOST_E2E_NO_NETNS=1 asks: the NATS cluster is tested on loopback only (mesh-nats.test.mjs)`)
    return false
  }
  throw new Error(`this test puts hosts in network namespaces, which do not work here: ${why}. ` +
    'Run it as root with iproute2 installed, or set MOONHOST_E2E_NO_NETNS=1 to skip it ' +
    '(the NATS cluster is then tested on loopback only, by mesh-nats.test.mjs).')
}

/** Removes namespaces and links of our naming whose owner process is gone (a crashed earlier run). */
function removeLeftovers() {
  const dead = (name, re) => {
    const m = re.exec(name)
    return m !== null && Number(m[1]) !== process.pid && !processAlive(Number(m[1]))
  }
  for (const line of ip('netns', 'list').split('\n')) {
    const name = line.split(' ')[0]
    if (dead(name, /^mhns(\d+)-/)) spawnSync('ip', ['netns', 'del', name])
  }
  for (const line of ip('-o', 'link', 'show').split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? ''
    if (dead(name, /^mh(?:br|v)(\d+)-/)) spawnSync('ip', ['link', 'del', name])
  }
}

/** A 10.77.X prefix no other lab holds and the root namespace does not use. */
function claimSubnet() {
  const dir = join(tmpdir(), 'moonhost-e2e-netns')
  for (let attempt = 0; attempt < 100; attempt++) {
    const x = Math.floor(Math.random() * 256)
    const net = `10.77.${x}.0/24`
    const inUse = ip('-4', '-o', 'addr', 'show', 'to', net).trim() || ip('-4', 'route', 'show', 'root', net).trim()
    if (!inUse && claimFile(dir, String(x))) return `10.77.${x}`
  }
  throw new Error('no free 10.77.X.0/24 subnet for the namespaces')
}

let labCount = 0

/**
 * count namespaces, each with eth0 at SUBNET.(10+i)/24 on a new bridge at
 * SUBNET.1 (lab.address) in the root namespace. lab.namespaces[i] has
 * {name, veth, address, down(), up()} (down/up: its eth0's link state); lab.startHost(i,
 * opts) starts moonhost inside namespace i listening on its address. When t
 * ends, the lab stops its hosts (their errors, such as a sanitizer report,
 * fail t), then removes the namespaces and the bridge, failed test or not.
 */
export function netnsLab(t, count) {
  removeLeftovers()
  const subnet = claimSubnet()
  const tag = `${process.pid}-${++labCount}`
  const bridge = `mhbr${tag}`
  const hosts = []
  const namespaces = []
  let bridgeMade = false
  t.after(async () => {
    const stopped = await Promise.allSettled(hosts.map((h) => h.stop()))
    for (const ns of namespaces) {
      // The veth pair first: a deleted namespace takes its end with it only later, asynchronously.
      spawnSync('ip', ['link', 'del', ns.veth])
      spawnSync('ip', ['netns', 'del', ns.name])
    }
    if (bridgeMade) spawnSync('ip', ['link', 'del', bridge])
    const failed = stopped.find((s) => s.status === 'rejected')
    if (failed) throw failed.reason
  })

  ip('link', 'add', bridge, 'type', 'bridge')
  bridgeMade = true
  ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge)
  ip('link', 'set', bridge, 'up')
  for (let i = 0; i < count; i++) {
    const name = `mhns${tag}-${i}`
    const veth = `mhv${tag}-${i}`
    const ns = {
      name,
      veth,
      address: `${subnet}.${10 + i}`,
      down: () => ip('-n', name, 'link', 'set', 'eth0', 'down'),
      up: () => ip('-n', name, 'link', 'set', 'eth0', 'up'),
    }
    ip('netns', 'add', name)
    namespaces.push(ns)
    ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name)
    ip('link', 'set', veth, 'master', bridge)
    ip('link', 'set', veth, 'up')
    ip('-n', name, 'addr', 'add', `${ns.address}/24`, 'dev', 'eth0')
    ip('-n', name, 'link', 'set', 'lo', 'up')
    ns.up()
  }
  return {
    address: `${subnet}.1`,
    namespaces,
    async startHost(i, opts = {}) {
      const ns = namespaces[i]
      // `ip netns exec` execs moonhost in place: the child, its pid and its signals are moonhost's.
      const h = await startHost({ ...opts, listen: `${ns.address}:0`, wrap: ['ip', 'netns', 'exec', ns.name] })
      hosts.push(h)
      return h
    },
  }
}
