-- The plugin bench/run loads into moonhost (see bench/README.md).
--   bench:echo(a, b)     returns {a, b}: the call every reference server answers
--                        (over HTTP, oRPC passes one input: bench:echo(input)
--                        returns it as it is, as the @orpc/server reference does)
--   bench:broadcast(n)   sends bench:tick with an n-byte string to every client,
--                        returns how many it was sent to (the fan-out benchmark)
local moonhost = require 'moonhost'

return moonhost.plugin {
  name = 'bench',
  setup = function(ctx)
    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'bench:echo',
      type = 'action',
      handler = function(a, b)
        if b == nil then return a end
        return { a, b }
      end,
    })

    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'bench:broadcast',
      type = 'action',
      handler = function(size)
        return ctx.rpc.broadcast('bench:tick', string.rep('x', size or 1024))
      end,
    })
  end,
}
