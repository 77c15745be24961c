-- A log relay: anything (a build script, a test runner, another plugin)
-- writes lines with logs:write; every client receives each line as the
-- event logs:line, and one that connects later reads the recent ones with
-- logs:tail. conf.d: plugins = { logs = { keep = 500 } } (default 200).
local moonhost = require 'moonhost'

return moonhost.plugin {
  name = 'logs',
  types = {
    Level = '"info"|"warn"|"error"',
    Line = { seq = 'integer', text = 'string', level = 'Level', at = 'number' },
  },
  client_functions = { ['logs:line'] = { args = { 'Line' }, params = { 'line' } } },
  setup = function(ctx)
    local keep = ctx.config.keep or 200
    local lines, seq = {}, 0

    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'logs:write',
      type = 'action',
      args = { 'string', 'Level?' },
      returns = 'integer',
      handler = function(text, level)
        seq = seq + 1
        local line = { seq = seq, text = text, level = level or 'info', at = moonhost.now() }
        lines[#lines + 1] = line
        if #lines > keep then table.remove(lines, 1) end
        ctx.rpc.broadcast('logs:line', line)
        return seq
      end,
    })

    ctx.rpc.register(moonhost.define_rpc_function {
      name = 'logs:tail',
      type = 'query', -- not cached: every write changes it
      args = { 'integer?' },
      returns = 'Line[]',
      handler = function(n)
        n = math.min(n or 50, #lines)
        local out = {}
        for i = #lines - n + 1, #lines do out[#out + 1] = lines[i] end
        return moonhost.array(out)
      end,
    })
  end,
}
