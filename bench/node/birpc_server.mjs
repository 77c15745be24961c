// Reference server 2: birpc 4.x over ws 8.x, the stack Vite DevTools Kit runs.
// A birpc group whose channels are the connected sockets (as the DevTools
// server does), JSON serialization, one function: bench:echo(a, b) -> [a, b].
//
//   node birpc_server.mjs PORT      prints "listening on ws://127.0.0.1:PORT/__ws" on stderr
import { WebSocketServer } from 'ws'
import { createBirpcGroup } from 'birpc'

const port = Number(process.argv[2] || 7813)
const functions = {
  'bench:echo': (a, b) => [a, b],
}
const group = createBirpcGroup(functions, [], {})
const wss = new WebSocketServer({ host: '127.0.0.1', port, path: '/__ws' })
wss.on('connection', (ws) => {
  const listeners = []
  ws.on('message', (data) => {
    const text = data.toString()
    for (const fn of listeners) fn(text)
  })
  const channel = {
    post: (data) => ws.send(data),
    on: (fn) => { listeners.push(fn) },
    serialize: JSON.stringify,
    deserialize: JSON.parse,
  }
  group.updateChannels((channels) => { channels.push(channel) })
  ws.on('close', () => {
    group.updateChannels((channels) => {
      const i = channels.indexOf(channel)
      if (i >= 0) channels.splice(i, 1)
    })
  })
})
wss.on('listening', () => {
  console.error(`listening on ws://127.0.0.1:${wss.address().port}/__ws`)
})
const stop = () => { wss.close(); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
