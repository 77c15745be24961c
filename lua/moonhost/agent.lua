--- moonhost.agent: the `agent` option of a function (docs/plugins.md
-- "Functions for AI agents"), as devframe's RPC definitions have it:
--
--   agent = { description = 'What it does and when to use it',
--             title = 'Display name', safety = 'read' | 'action' | 'destructive',
--             tags = { 'modules' }, examples = { { args = { 'src/main.ts' }, description = '...' } } }
--
-- A function with it is offered as a tool over MCP (host/transport/mcp.c).
-- This file checks the option when the function is defined and builds the
-- tool's description when it is registered: its input schema is JSON Schema
-- (draft 2020-12) derived from `args`, one property per positional argument
-- (arg0, arg1, ... as devframe names them). Pure Lua: it runs under busted.
local options = require 'moonhost.options'

local A = {}

A.KEYS = { 'description', 'title', 'safety', 'tags', 'examples' }
local SAFETY = { 'read', 'action', 'destructive' }

local function fail(where, msg) options.raise(where .. ': ' .. msg) end

local function is_list(t)
  if type(t) ~= 'table' then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

--- Checks an `agent` option of a function of type ftype; returns it.
function A.check(agent, ftype, stream, where)
  if agent == nil then return nil end
  where = where .. ' agent'
  if type(agent) ~= 'table' then fail(where, "expected a table { description = '...' }, got " .. type(agent)) end
  options.check_keys(agent, A.KEYS, where)
  if type(agent.description) ~= 'string' or agent.description == '' then
    fail(where, 'description is required: a sentence or three saying what the tool does and when to use it')
  end
  options.check_type(agent.title, 'string', where, 'title')
  if agent.safety ~= nil then options.check_one_of(agent.safety, SAFETY, where, 'safety') end
  if agent.tags ~= nil then
    if not is_list(agent.tags) then fail(where, 'tags must be a list of strings') end
    for _, t in ipairs(agent.tags) do
      if type(t) ~= 'string' then fail(where, 'tags must be a list of strings') end
    end
  end
  if agent.examples ~= nil then
    if not is_list(agent.examples) then fail(where, 'examples must be a list of { args = {...}, description = ... }') end
    for i, ex in ipairs(agent.examples) do
      if type(ex) ~= 'table' or not is_list(ex.args) then fail(where, 'examples[' .. i .. '].args must be a list') end
      options.check_keys(ex, { 'args', 'description' }, where .. ' examples[' .. i .. ']')
      options.check_type(ex.description, 'string', where .. ' examples[' .. i .. ']', 'description')
    end
  end
  -- A tool call is answered once: an event answers nobody, a stream answers in chunks.
  if ftype == 'event' then fail(where, "an 'event' answers nobody, so it cannot be a tool: make it an 'action'") end
  if stream then fail(where, 'a stream answers in chunks, so it cannot be a tool (a tool call gets one result)') end
  return agent
end

-- ---- JSON Schema from moonhost.schema nodes ------------------------------

local PRIM = {
  string = { type = 'string' }, number = { type = 'number' }, integer = { type = 'integer' },
  boolean = { type = 'boolean' }, null = { type = 'null' }, void = { type = 'null' },
  object = { type = 'object' }, array = { type = 'array' }, any = {}, unknown = {},
}

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

-- The JSON Schema of a node; named types go to defs (each once, so a type
-- that refers to itself ends). Raises for types JSON cannot carry.
local function json_schema(node, types, defs, where)
  local k = node.kind
  if k == 'prim' then
    local s = PRIM[node.name]
    if not s then
      fail(where, node.name .. " is not a JSON value: an agent tool takes and returns JSON (use 'string' or 'number')")
    end
    return copy(s)
  elseif k == 'lit' then
    return { const = node.value }
  elseif k == 'optional' then
    return { anyOf = { json_schema(node.of, types, defs, where), { type = 'null' } } }
  elseif k == 'array' then
    return { type = 'array', items = json_schema(node.of, types, defs, where .. '[]') }
  elseif k == 'union' then
    local alts = {}
    for i, alt in ipairs(node.of) do alts[i] = json_schema(alt, types, defs, where) end
    return { anyOf = alts }
  elseif k == 'ref' then
    if defs[node.name] == nil then
      defs[node.name] = false -- being converted: a reference back to it stays a $ref
      defs[node.name] = json_schema(types[node.name], types, defs, node.name)
    end
    return { ['$ref'] = '#/$defs/' .. node.name }
  end
  -- an object: the fields it names (more keys are allowed, as the checker allows them)
  if #node.fields == 0 then return { type = 'object' } end
  local props, required = {}, {}
  for _, f in ipairs(node.fields) do
    props[f.name] = json_schema(f.node, types, defs, where .. '.' .. f.name)
    if f.node.kind ~= 'optional' then required[#required + 1] = f.name end
  end
  local s = { type = 'object', properties = props }
  if #required > 0 then s.required = required end
  return s
end
A.json_schema = json_schema

--- The input schema of a function's arguments: an object with arg0,
-- arg1, ... (titled with the handler's parameter names), no other keys.
-- Without an args schema any object is taken.
function A.input_schema(arg_nodes, types, params, where)
  if not arg_nodes then return { type = 'object' } end
  local defs, props, required = {}, {}, {}
  for i, node in ipairs(arg_nodes) do
    local key = 'arg' .. (i - 1)
    local s = json_schema(node, types, defs, where .. ' args[' .. i .. ']')
    if type(params[i]) == 'string' then s.title = params[i] end
    props[key] = s
    if node.kind ~= 'optional' then required[#required + 1] = key end
  end
  local schema = { type = 'object', properties = props, additionalProperties = false }
  if #required > 0 then schema.required = required end
  if next(defs) then schema['$defs'] = defs end
  return schema
end

local READ_TYPES = { query = true, static = true }

--- What core.register takes as `agent`: { tool = the MCP tool minus its
-- name, positional = how many arguments the schema declares (-1: none) }.
function A.tool(def, types, params)
  local agent = def.agent
  local where = "function '" .. def.name .. "' agent"
  -- returns must be JSON too, though no output schema is sent
  if def.returns_node then json_schema(def.returns_node, types, {}, where .. ' returns') end
  local safety = agent.safety or (READ_TYPES[def.type] and 'read' or 'action')
  local tool = {
    description = agent.description,
    inputSchema = A.input_schema(def.arg_nodes, types, params, where),
    annotations = { readOnlyHint = safety == 'read', destructiveHint = safety == 'destructive' },
  }
  if agent.title then
    tool.title = agent.title
    tool.annotations.title = agent.title
  end
  if agent.tags or agent.examples then
    tool._meta = { ['moonhost/tags'] = agent.tags, ['moonhost/examples'] = agent.examples }
  end
  return { tool = tool, positional = def.arg_nodes and #def.arg_nodes or -1 }
end

return A
