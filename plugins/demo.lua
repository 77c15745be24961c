-- A small plugin showing each kind of function. Try it from a browser console:
--   see README.md "Quick start".
local moonhost = require 'moonhost'

return moonhost.plugin {
  name = 'demo',
  client_functions = { ['demo:message'] = { args = { 'string' }, params = { 'text' } } }, -- what demo:shout sends (moonhost types)
  setup = function(ctx)
    local hits = 0

    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'demo:add',
      type = 'query',
      args = { 'number', 'number' }, -- anything else is answered bad_request
      returns = 'number',
      setup = function() return { handler = function(a, b) return a + b end } end,
    })

    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'demo:echo',
      handler = function(...) return ... end,
    })

    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'demo:hit',
      type = 'action',
      handler = function()
        hits = hits + 1
        ctx.rpc.invalidate('demo:hits')
        return hits
      end,
    })

    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'demo:hits',
      type = 'query',
      cache = { ttl = 60 },
      handler = function() return { hits = hits, at = moonhost.now() } end,
    })

    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'demo:shout',
      type = 'action',
      handler = function(message)
        return ctx.rpc.broadcast('demo:message', message)
      end,
    })

    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'demo:wait',
      handler = function(seconds)
        moonhost.sleep(seconds or 0.1)
        return 'waited'
      end,
    })

    ctx.log.info('ready with %d functions', 6)
  end,
}
