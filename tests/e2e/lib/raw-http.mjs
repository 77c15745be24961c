// Raw HTTP/1.1 over node:net for the hostile-input tests
// (http-hardening.test.mjs, http-hostile.test.mjs): which bytes go out in
// which write, and the answers split back out of the byte stream.
import assert from 'node:assert/strict'
import { connect as tcpConnect } from 'node:net'
import { E2E_TOKEN } from './host.mjs'

export const AUTH = `Authorization: Bearer ${E2E_TOKEN}\r\n`
export const get = (path = '/__moonhost/health', host = '127.0.0.1') => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`
export const post = (path, body, extra = AUTH) =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
export const echo = (v) => post('/rpc/http/echo', JSON.stringify({ json: v }))

/** Splits a byte stream into HTTP/1.1 responses (all of ours carry Content-Length). */
export function parseResponses(buf) {
  const out = []
  let rest = buf
  for (;;) {
    const end = rest.indexOf('\r\n\r\n')
    if (end < 0) return { responses: out, rest }
    const head = rest.subarray(0, end).toString('latin1')
    const m = /content-length: *(\d+)/i.exec(head)
    const len = m ? Number(m[1]) : 0
    if (rest.length < end + 4 + len) return { responses: out, rest }
    out.push({ status: Number(head.split(' ')[1]), head, body: rest.subarray(end + 4, end + 4 + len).toString() })
    rest = rest.subarray(end + 4 + len)
  }
}

/**
 * Opens a raw connection, sends each of writes as its own write (write i
 * once waitFor[i] responses have arrived, and once the promise after[i], if
 * any, has resolved), and resolves with the responses and whether the host
 * closed the connection, once `until` responses arrived (then it closes
 * itself) or the host closed.
 */
export function exchange(host, writes, { until = Infinity, waitFor = [], after = [] } = {}) {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect(host.port, '127.0.0.1')
    let buf = Buffer.alloc(0)
    let responses = []
    let next = 0
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new Error(`no end of exchange within 10 s; got ${responses.length} responses`))
    }, 10000)
    const done = (closedByHost) => {
      clearTimeout(timer)
      sock.destroy()
      resolve({ responses, closedByHost })
    }
    let blocked = false
    const pump = () => {
      while (!blocked && next < writes.length && responses.length >= (waitFor[next] ?? 0)) {
        if (after[next]) {
          const p = after[next]
          after[next] = null
          blocked = true
          p.then(() => {
            blocked = false
            pump()
          }, reject)
          return
        }
        sock.write(writes[next++])
      }
    }
    sock.on('connect', pump)
    sock.on('data', (d) => {
      const r = parseResponses(Buffer.concat([buf, d]))
      responses = responses.concat(r.responses)
      buf = r.rest
      pump()
      if (responses.length >= until) done(false)
    })
    sock.on('end', () => done(true))
    sock.on('error', reject)
  })
}

/** The host still answers a normal request on a new connection. */
export async function assertServing(host) {
  const { responses } = await exchange(host, [echo('still here')], { until: 1 })
  assert.equal(responses[0].status, 200)
  assert.deepEqual(JSON.parse(responses[0].body).json, 'still here')
}
