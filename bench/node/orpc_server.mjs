// Reference server 3: @orpc/server 1.x over Node's http (the RPC protocol that
// @orpc/client's RPCLink speaks): POST /rpc/bench/echo with {"json": input}
// answers {"json": input}.
//
//   node orpc_server.mjs PORT [TOKEN]   prints "listening on http://127.0.0.1:PORT/rpc" on stderr
// With TOKEN, a request without "Authorization: Bearer TOKEN" gets 401, as
// moonhost (auth on by default) answers it: bench/run sends every server the
// same bytes.
import { createServer } from 'node:http'
import { os } from '@orpc/server'
import { RPCHandler } from '@orpc/server/node'

const port = Number(process.argv[2] || 7814)
const token = process.argv[3]
const router = {
  bench: {
    echo: os.handler(({ input }) => input),
  },
}
const handler = new RPCHandler(router)
const server = createServer(async (req, res) => {
  if (token && req.headers.authorization !== `Bearer ${token}`) {
    res.statusCode = 401
    res.end('no token')
    return
  }
  const { matched } = await handler.handle(req, res, { prefix: '/rpc', context: {} })
  if (!matched) {
    res.statusCode = 404
    res.end('not found')
  }
})
server.listen(port, '127.0.0.1', () => {
  console.error(`listening on http://127.0.0.1:${server.address().port}/rpc`)
})
const stop = () => { server.close(); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
