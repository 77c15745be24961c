// The peer mesh's built-in names and a test peer (tests/e2e/mesh*.test.mjs).
export const ANNOUNCE = 'devtoolskit:internal:peer:announce'
export const DELTA = 'devtoolskit:internal:peer:directory-delta'
export const RELAY = 'devtoolskit:internal:mesh:relay'
export const RELAY_EVENT = 'devtoolskit:internal:mesh:relay-event'
export const VERIFY = 'devtoolskit:internal:mesh:verify'
export const MAKE = 'devtoolskit:internal:mesh:make'

/**
 * A peer: a birpc client (host.connect) whose directory deltas are kept
 * for the test to await. delta(pred) takes the first matching delta, seen
 * already or still to come; nextDelta() the next one in order; forget()
 * drops the ones seen so far.
 */
export async function meshPeer(host, functions = {}) {
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
  })
  c.forget = () => seen.splice(0)
  c.delta = (pred) => {
    const i = seen.findIndex(pred)
    if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0])
    return new Promise((resolve) => waiters.push({ pred, resolve }))
  }
  c.nextDelta = () => c.delta(() => true)
  return c
}
