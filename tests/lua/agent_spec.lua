-- Specs for lua/moonhost/agent.lua: the `agent` option of a function (MCP
-- tools) and the JSON Schema it derives from `args`; plain busted on Lua 5.4.
package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path
local moonhost = require 'moonhost'
local agent = require 'moonhost.agent'
local schema = require 'moonhost.schema'

local function def(extra)
  local d = { name = 'demo:f', handler = function() end }
  for k, v in pairs(extra) do d[k] = v end
  return d
end

local function refused(extra, pattern)
  local ok, err = pcall(moonhost.define_rpc_function, def(extra))
  assert.is_false(ok)
  assert.matches(pattern, tostring(err))
end

describe('the agent option', function()
  it('is kept on the definition when valid', function()
    local d = moonhost.define_rpc_function(def { agent = { description = 'Does f.', safety = 'read', tags = { 'x' },
      examples = { { args = { 1 }, description = 'one' } } } })
    assert.equals('Does f.', d.agent.description)
  end)

  it('refuses mistakes with the reason', function()
    refused({ agent = true }, "agent: expected a table { description = '...' }, got boolean")
    refused({ agent = {} }, 'agent: description is required')
    refused({ agent = { description = 'x', descripton = 'y' } }, "descripton")
    refused({ agent = { description = 'x', safety = 'risky' } }, 'safety')
    refused({ agent = { description = 'x', tags = 'a' } }, 'tags must be a list of strings')
    refused({ agent = { description = 'x', examples = { { args = 1 } } } }, 'examples%[1%]%.args must be a list')
    refused({ type = 'event', agent = { description = 'x' } }, "an 'event' answers nobody")
    refused({ type = 'action', stream = true, agent = { description = 'x' } }, 'a stream answers in chunks')
  end)
end)

describe('the tool an agent function becomes', function()
  local function tool(extra, types)
    local d = moonhost.define_rpc_function(def(extra))
    return agent.tool(d, types and schema.parse_types(types, 'types') or {}, { 'first', 'second' })
  end

  it('takes arg0, arg1, ... titled with the parameter names', function()
    local t = tool { args = { 'string', 'integer?' }, agent = { description = 'd' } }
    assert.equals(2, t.positional)
    assert.same({
      type = 'object', additionalProperties = false, required = { 'arg0' },
      properties = {
        arg0 = { type = 'string', title = 'first' },
        arg1 = { anyOf = { { type = 'integer' }, { type = 'null' } }, title = 'second' },
      },
    }, t.tool.inputSchema)
    assert.same({ readOnlyHint = true, destructiveHint = false }, t.tool.annotations)
  end)

  it('writes unions, literals, arrays, objects and named types (also recursive ones) as JSON Schema', function()
    local t = tool({ args = { '("a"|"b")[]', 'Tree' }, agent = { description = 'd' } },
      { Tree = { name = 'string', ['children?'] = 'Tree[]' } })
    local s = t.tool.inputSchema
    assert.same({ type = 'array', items = { anyOf = { { const = 'a' }, { const = 'b' } } }, title = 'first' },
      s.properties.arg0)
    assert.same({ ['$ref'] = '#/$defs/Tree', title = 'second' }, s.properties.arg1)
    assert.same({
      type = 'object', required = { 'name' },
      properties = {
        name = { type = 'string' },
        children = { anyOf = { { type = 'array', items = { ['$ref'] = '#/$defs/Tree' } }, { type = 'null' } } },
      },
    }, s['$defs'].Tree)
  end)

  it('takes any object without an args schema', function()
    local t = tool { type = 'action', agent = { description = 'd', title = 'T', safety = 'destructive' } }
    assert.equals(-1, t.positional)
    assert.same({ type = 'object' }, t.tool.inputSchema)
    assert.same({ readOnlyHint = false, destructiveHint = true, title = 'T' }, t.tool.annotations)
    assert.equals('T', t.tool.title)
  end)

  it('refuses types JSON cannot carry, in args and returns', function()
    local ok, err = pcall(tool, { args = { 'Date' }, agent = { description = 'd' } })
    assert.is_false(ok)
    assert.matches('args%[1%]: Date is not a JSON value', tostring(err))
    ok, err = pcall(tool, { returns = { when = 'BigInt' }, agent = { description = 'd' } })
    assert.is_false(ok)
    assert.matches('returns%.when: BigInt is not a JSON value', tostring(err))
  end)
end)
