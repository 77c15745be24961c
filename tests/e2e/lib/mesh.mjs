// The peer mesh's built-in names and a test peer (tests/e2e/mesh*.test.mjs).
import { createHmac, randomBytes } from 'node:crypto'

export const ANNOUNCE = 'devtoolskit:internal:peer:announce'
export const DELTA = 'devtoolskit:internal:peer:directory-delta'
export const DIRECTORY = 'devtoolskit:internal:peer:directory'
export const RELAY = 'devtoolskit:internal:mesh:relay'
export const RELAY_EVENT = 'devtoolskit:internal:mesh:relay-event'
export const VERIFY = 'devtoolskit:internal:mesh:verify'
export const MAKE = 'devtoolskit:internal:mesh:make'
export const LINK_CHALLENGE = 'devtoolskit:internal:mesh:link-challenge'
export const LINK = 'devtoolskit:internal:mesh:link'

/** A link handshake proof (host/mesh/mesh_identity.h), written independently of the C. */
export function linkProof(key, side, dialerNonce, serverNonce, dialerHost, serverHost) {
  const f = (s) => `${Buffer.byteLength(s)}:${s}`
  const msg = `moonhost-link-v1 ${side} ${f(dialerNonce)} ${f(serverNonce)} ${f(dialerHost)} ${f(serverHost)}`
  return createHmac('sha256', key).update(msg).digest('hex')
}

/**
 * A connection that makes the host-link handshake as host `name` with
 * mesh.key `key`, as a dialing moonhost does: link-challenge, then link with
 * the proof. Resolves {client, hello, serverProofOk}; the link call's
 * rejection (a wrong key) rejects with that error, carrying client and
 * serverProofOk too.
 */
export async function linkAs(host, name, key, functions = {}) {
  const client = await host.connect(functions)
  const nonce = randomBytes(16).toString('hex')
  const ch = await client.rpc[LINK_CHALLENGE]({ host: name, nonce })
  const serverProofOk = ch.proof === linkProof(key, 'server', nonce, ch.nonce, name, ch.host)
  const proof = linkProof(key, 'dialer', nonce, ch.nonce, name, ch.host)
  try {
    const hello = await client.rpc[LINK]({ host: name, peers: [], proof })
    return { client, hello, serverProofOk }
  } catch (e) {
    throw Object.assign(e, { client, serverProofOk })
  }
}

/**
 * A peer: a birpc client (host.connect, presenting `token` when given, else
 * the fixtures' token) whose directory deltas are kept
 * for the test to await. delta(pred) takes the first matching delta, seen
 * already or still to come; nextDelta() the next one in order; forget()
 * drops the ones seen so far.
 */
export async function meshPeer(host, functions = {}, { token } = {}) {
  const seen = []
  const waiters = []
  const c = await host.connect({
    ...functions,
    [DELTA]: (d) => {
      const w = waiters.find((w) => w.pred(d))
      if (!w) return seen.push(d)
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve(d)
    },
  }, {}, { token })
  c.forget = () => seen.splice(0)
  c.delta = (pred) => {
    const i = seen.findIndex(pred)
    if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0])
    return new Promise((resolve) => waiters.push({ pred, resolve }))
  }
  c.nextDelta = () => c.delta(() => true)
  return c
}
