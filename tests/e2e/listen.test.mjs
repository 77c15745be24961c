// Where moonhost listens: --listen 127.0.0.1:PORT must mean that address
// only (libwebsockets 4.1 would otherwise open [::]:PORT, every interface).
import test from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { hostFor } from './lib/util.mjs'

/** Local addresses listening on port (hex as in /proc/net/tcp*). */
function listeners(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  const out = []
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length > 3 && f[3] === '0A' && f[1].endsWith(`:${hexPort}`)) out.push(`${file.endsWith('6') ? 'tcp6' : 'tcp'} ${f[1]}`)
    }
  }
  return out
}

test('--listen 127.0.0.1:0 listens on 127.0.0.1 only, not on every interface', async (t) => {
  const host = await hostFor(t, {})
  assert.deepEqual(listeners(host.port), [`tcp 0100007F:${host.port.toString(16).toUpperCase().padStart(4, '0')}`])
})
