// A real nats-server (Debian's package) on a loopback port, for the scale-out
// tests: started, stopped, killed and restarted on the same port.
import { execFileSync, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'node:net'
import { fixedPort } from './util.mjs'

const natsBin = process.env.NATS_SERVER_BIN || 'nats-server'

// Servers still running when this process exits (their t.after was skipped).
const running = new Set()
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/**
 * Starts nats-server on 127.0.0.1, or on `host` (an address of this
 * machine), at a fixedPort() (so that a restart gets the same one) and waits
 * for its "Server is ready" line. Extra command-line arguments in args (e.g.
 * ['--auth', TOKEN]). Returns {url, host, port, start(), stop(), log}: stop() kills it (SIGKILL, as a crash would) and waits for
 * its exit; start() brings it back on the same port.
 */
export async function startNats(t, args = [], { host = '127.0.0.1' } = {}) {
  const port = await fixedPort()
  const server = { host, port, url: `nats://${host}:${port}`, child: null, log: '' }
  server.start = () => new Promise((resolve, reject) => {
    const child = spawn(natsBin, ['-a', host, '-p', String(port), ...args])
    server.child = child
    running.add(child)
    child.once('exit', () => running.delete(child))
    let out = ''
    const onData = (d) => {
      out += d
      server.log += d
      if (!out.includes('Server is ready')) return
      // Once ready, the server must not keep this test process alive: when an
      // earlier t.after hook fails (a host's sanitizer report), node skips the
      // later hooks, ours among them, and the run would hang on this child.
      // The exit handler below kills it instead.
      for (const handle of [child, child.stdout, child.stderr]) handle.unref()
      resolve(server)
    }
    child.stderr.on('data', onData)
    child.stdout.on('data', onData)
    child.on('error', reject)
    child.on('exit', (code, signal) => reject(new Error(`nats-server exited (${code ?? signal}) before ready:\n${out}`)))
  })
  server.stop = async () => {
    const child = server.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((res) => child.once('exit', res))
    child.ref() // waiting for its exit must keep this process alive
    child.kill('SIGKILL')
    await exited
  }
  await server.start()
  t.after(() => server.stop())
  return server
}

/**
 * A bare NATS client (the text protocol over a socket, no library) that
 * subscribes to `subject` and keeps what arrives with its headers as sent:
 * {subject, headers: Buffer, payload: Buffer}. next(pred) takes the first
 * matching message, seen already or still to come; publish(msg) sends one
 * back byte for byte (or changed). Resolves once the server has the
 * subscription.
 */
export async function natsTap(t, server, subject) {
  const sock = connect(server.port, server.host)
  t.after(() => sock.destroy())
  const seen = []
  const waiters = []
  let buf = Buffer.alloc(0)
  let ponged
  const ready = new Promise((res) => (ponged = res))
  const deliver = (m) => {
    const w = waiters.find((w) => w.pred(m))
    if (!w) return seen.push(m)
    waiters.splice(waiters.indexOf(w), 1)
    w.resolve(m)
  }
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d])
    for (let eol; (eol = buf.indexOf('\r\n')) >= 0;) {
      const line = buf.subarray(0, eol).toString()
      if (line.startsWith('HMSG ')) {
        const parts = line.split(' ') // HMSG SUBJECT SID [REPLY] HDR_LEN TOTAL_LEN
        const total = Number(parts.at(-1))
        const hdrLen = Number(parts.at(-2))
        if (buf.length < eol + 2 + total + 2) return
        const body = buf.subarray(eol + 2, eol + 2 + total)
        buf = buf.subarray(eol + 2 + total + 2)
        deliver({ subject: parts[1], headers: Buffer.from(body.subarray(0, hdrLen)), payload: Buffer.from(body.subarray(hdrLen)) })
        continue
      }
      buf = buf.subarray(eol + 2)
      if (line === 'PING') sock.write('PONG\r\n')
      if (line === 'PONG') ponged()
    }
  })
  sock.write('CONNECT {"verbose":false,"pedantic":false,"headers":true,"lang":"e2e","version":"0"}\r\n')
  sock.write(`SUB ${subject} 1\r\nPING\r\n`)
  await ready
  return {
    next(pred = () => true) {
      const i = seen.findIndex(pred)
      if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0])
      return new Promise((resolve) => waiters.push({ pred, resolve }))
    },
    publish({ subject: subj, headers, payload }) {
      sock.write(`HPUB ${subj} ${headers.length} ${headers.length + payload.length}\r\n`)
      sock.write(Buffer.concat([headers, payload, Buffer.from('\r\n')]))
    },
  }
}

/**
 * Certificates made with the openssl CLI in dir, for TLS to nats-server:
 * a CA, a server certificate for 127.0.0.1/localhost, one for another
 * name (other.example) and a client certificate it signed, and a second CA with a client certificate of its
 * own (one the server does not trust). Returns the file paths.
 */
export function makeCerts(dir) {
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  const key = (name) => run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`)
  const ca = (name) => {
    key(name)
    run('req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`)
  }
  const sign = (name, caName, ext) => {
    key(name)
    run('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`)
    writeFileSync(join(dir, `${name}.ext`), ext)
    run('x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.pem`, '-CAkey', `${caName}.key`, '-CAcreateserial',
      '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`)
  }
  ca('ca')
  sign('server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  sign('wrong-name', 'ca', 'subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n')
  sign('client', 'ca', 'extendedKeyUsage=clientAuth\n')
  ca('other-ca')
  sign('other-client', 'other-ca', 'extendedKeyUsage=clientAuth\n')
  const f = (name) => join(dir, name)
  return {
    ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'),
    wrongNameCert: f('wrong-name.pem'), wrongNameKey: f('wrong-name.key'),
    clientCert: f('client.pem'), clientKey: f('client.key'),
    otherClientCert: f('other-client.pem'), otherClientKey: f('other-client.key'),
  }
}

/** nats-server arguments for TLS with the certificates of makeCerts, clients verified. */
export const natsTlsArgs = (certs) =>
  ['--tls', '--tlscert', certs.serverCert, '--tlskey', certs.serverKey, '--tlscacert', certs.ca, '--tlsverify']
