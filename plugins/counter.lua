-- A counter: an action that changes state and a cached query that reads it.
-- The query's result is kept until the action invalidates it, and every
-- client hears of the change. Try it: rpc['counter:increment'](2).
local moonhost = require 'moonhost'

return moonhost.plugin {
  name = 'counter',
  client_functions = { ['counter:changed'] = { args = { 'integer' }, params = { 'value' } } },
  setup = function(ctx)
    local value = ctx.config.start or 0 -- conf.d: plugins = { counter = { start = 10 } }

    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'counter:get',
      type = 'query',
      cache = true, -- served from the cache until counter:increment drops it
      args = {},
      returns = 'integer',
      handler = function() return value end,
    })

    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'counter:increment',
      type = 'action',
      args = { 'integer?' },
      returns = 'integer',
      handler = function(by)
        value = value + (by or 1)
        ctx.rpc.invalidate('counter:get')
        ctx.rpc.broadcast('counter:changed', value)
        return value
      end,
    })
  end,
}
