// A real nats-server (Debian's package) on a loopback port, for the scale-out
// tests: started, stopped, killed and restarted on the same port.
import { spawn } from 'node:child_process'
import { fixedPort } from './util.mjs'

const natsBin = process.env.NATS_SERVER_BIN || 'nats-server'

/**
 * Starts nats-server on 127.0.0.1 (a fixedPort(), so that a restart gets
 * the same one) and waits for its "Server is ready" line. Extra command-line
 * arguments in args (e.g. ['--auth', TOKEN]). Returns {url, port, start(),
 * stop(), log}: stop() kills it (SIGKILL, as a crash would) and waits for
 * its exit; start() brings it back on the same port.
 */
export async function startNats(t, args = []) {
  const port = await fixedPort()
  const server = { port, url: `nats://127.0.0.1:${port}`, child: null, log: '' }
  server.start = () => new Promise((resolve, reject) => {
    const child = spawn(natsBin, ['-a', '127.0.0.1', '-p', String(port), ...args])
    server.child = child
    let out = ''
    const onData = (d) => {
      out += d
      server.log += d
      if (out.includes('Server is ready')) resolve(server)
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
    child.kill('SIGKILL')
    await exited
  }
  await server.start()
  t.after(() => server.stop())
  return server
}
