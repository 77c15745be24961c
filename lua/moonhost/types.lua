--- `moonhost types`: loads every plugin (as `run` would, without a server)
-- and writes TypeScript declarations of what they register, from the
-- args/returns schemas (moonhost.schema) and the handlers' parameter names:
--
--   export namespace Modules { export type Module = { ... } }   (plugin 'modules', types = { Module = ... })
--   export type MoonhostFunctions = { 'demo:add': (a: number, b: number) => Promise<number> }
--   export type MoonhostClientFunctions = { ... }         (a plugin's client_functions)
--   export type MoonhostORPC = { demo: { add: (input: [a: number, b: number]) => Promise<number> } }
--   declare module '@vitejs/devtools-kit' { interface DevToolsRpcFunctions extends MoonhostFunctions {} ... }
--
-- Functions without a schema are (...args: any[]) => Promise<any>; `event`
-- functions, and client functions without `returns`, return void. A
-- plugin's named types live in a namespace of its own (PascalCase of its
-- name), so a name never depends on what other plugins define.
-- Over HTTP (MoonhostORPC, for @orpc/client) a function takes one input:
-- its one declared argument, the array of its arguments when it declares two
-- or more (the host spreads it, host/transport/orpc.c), any value without a
-- schema.
local schema = require 'moonhost.schema'

local M = {}

-- Names TypeScript or this file already use: a plugin type called so is
-- renamed (PluginName + Name), and a namespace called so gets 'Types'.
local TAKEN = {}
for n in ([[Array Promise Record Partial Required Readonly Pick Omit Object Function String Number Boolean
  Symbol Error Map Set Date RegExp URL Awaited MoonhostFunctions MoonhostClientFunctions MoonhostORPC]]):gmatch('%S+') do TAKEN[n] = true end

local RESERVED = {}
for w in ([[break case catch class const continue debugger default delete do else enum export extends false
  finally for function if import in instanceof new null return super switch this throw true try typeof var
  void while with yield let static implements interface package private protected public await arguments
  eval any]]):gmatch('%S+') do RESERVED[w] = true end

local function js_string(s)
  return "'" .. s:gsub('[\\\'%c]', function(c)
    if c == '\\' or c == "'" then return '\\' .. c end
    return string.format('\\u%04x', c:byte())
  end) .. "'"
end

local function pascal(name)
  return (name:gsub('[^%w]+(%w?)', string.upper):gsub('^%l', string.upper))
end

local function prop(name)
  return name:match('^[%a_$][%w_$]*$') and name or js_string(name)
end

local ts

local function object_ts(node, names)
  if #node.fields == 0 then return 'Record<string, any>' end
  local parts = {}
  for _, f in ipairs(node.fields) do
    local n = f.node
    if n.kind == 'optional' then
      parts[#parts + 1] = prop(f.name) .. '?: ' .. ts(n.of, names) .. ' | null'
    else
      parts[#parts + 1] = prop(f.name) .. ': ' .. ts(n, names)
    end
  end
  return '{ ' .. table.concat(parts, '; ') .. ' }'
end

-- A node as a TypeScript type; names maps the plugin's type names to the
-- names they have in the file.
ts = function(node, names)
  local k = node.kind
  if k == 'prim' then return schema.primitives[node.name] end
  if k == 'ref' then return names[node.name] end
  if k == 'lit' then return js_string(node.value) end
  if k == 'optional' then return ts(node.of, names) .. ' | null' end
  if k == 'array' then
    local inner = ts(node.of, names)
    if node.of.kind == 'union' or node.of.kind == 'optional' then inner = '(' .. inner .. ')' end
    return inner .. '[]'
  end
  if k == 'union' then
    local parts = {}
    for i, n in ipairs(node.of) do parts[i] = ts(n, names) end
    return table.concat(parts, ' | ')
  end
  return object_ts(node, names)
end
M.ts = ts

local function param_name(params, i, used)
  local n = params and params[i]
  if type(n) ~= 'string' or not n:match('^[%a_][%w_]*$') or RESERVED[n] or used[n] then n = 'arg' .. i end
  used[n] = true
  return n
end

-- "(a: number, b?: string | null) => Promise<R>"; parameters before the
-- last required one cannot be optional in TypeScript, so those take
-- `| undefined` instead of `?`.
local function result_type(returns, names, void)
  if void then return 'void' end
  return 'Promise<' .. (returns and ts(schema.parse(returns, 'returns'), names) or 'any') .. '>'
end

-- `void`: the caller gets no answer (an event), so the type says so.
function M.signature(args, returns, params, names, void)
  local result = result_type(returns, names, void)
  if args == nil then return '(...args: any[]) => ' .. result end
  local nodes = schema.parse_args(args, 'args')
  local last_required = 0
  for i, n in ipairs(nodes) do
    if n.kind ~= 'optional' then last_required = i end
  end
  local parts, used = {}, {}
  for i, n in ipairs(nodes) do
    local name = param_name(params, i, used)
    if n.kind ~= 'optional' then
      parts[i] = name .. ': ' .. ts(n, names)
    elseif i < last_required then
      parts[i] = name .. ': ' .. ts(n.of, names) .. ' | null | undefined'
    else
      parts[i] = name .. '?: ' .. ts(n.of, names) .. ' | null'
    end
  end
  return '(' .. table.concat(parts, ', ') .. ') => ' .. result
end

local function comment(text, indent)
  text = tostring(text):gsub('%*/', '* /'):gsub('\n', ' ')
  return indent .. '/** ' .. text .. ' */'
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- The oRPC input of a function: "(input: T)", "(input: [a: T, b?: U | null])";
-- optional when every argument is. A stream's result is an async iterator
-- of its chunks (`returns` types a chunk).
function M.orpc_signature(args, returns, params, names, stream)
  local result = returns and ts(schema.parse(returns, 'returns'), names) or 'any'
  if stream then result = 'AsyncIterableIterator<' .. result .. '>' end
  if args == nil then return '(input?: any) => Promise<' .. result .. '>' end
  local nodes = schema.parse_args(args, 'args')
  local required = false
  for _, n in ipairs(nodes) do required = required or n.kind ~= 'optional' end
  local input
  if #nodes == 0 then
    input = 'undefined'
  elseif #nodes == 1 then
    input = ts(nodes[1].kind == 'optional' and nodes[1].of or nodes[1], names)
    if not required then input = input .. ' | null' end
  else
    input = '[' .. M.signature(args, nil, params, names):match('^%((.*)%) =>') .. ']'
  end
  return '(input' .. (required and '' or '?') .. ': ' .. input .. ') => Promise<' .. result .. '>'
end

-- Functions nested by the ':' in their names, as oRPC paths are: a tree of
-- {fn = signature, children = {segment -> tree}}.
local function orpc_tree(described)
  local root = { children = {} }
  for _, d in ipairs(described) do
    for _, f in ipairs(d.functions or {}) do
      if not f.name:find('/', 1, true) then -- not reachable over HTTP
        local node = root
        for seg in (f.name .. ':'):gmatch('([^:]*):') do
          node.children[seg] = node.children[seg] or { children = {} }
          node = node.children[seg]
        end
        node.fn = M.orpc_signature(f.args, f.returns, f.params, d.names, f.stream)
      end
    end
  end
  return root
end

local function orpc_lines(node, indent, out)
  for _, seg in ipairs(sorted_keys(node.children)) do
    local child = node.children[seg]
    local head = indent .. prop(seg) .. ': '
    if next(child.children) == nil then
      out[#out + 1] = head .. child.fn
    else
      out[#out + 1] = head .. (child.fn and '(' .. child.fn .. ') & {' or '{')
      orpc_lines(child, indent .. '  ', out)
      out[#out + 1] = indent .. '}'
    end
  end
end

-- The namespace of a plugin's types: 'modules' -> Modules, 'my-plugin' ->
-- MyPlugin. Raises when two plugins would share one.
local function name_namespaces(described)
  local owner = {}
  for _, d in ipairs(described) do
    if next(d.types or {}) then
      local ns = pascal(d.plugin)
      if not ns:match('^[%a_]') then ns = '_' .. ns end
      if TAKEN[ns] or RESERVED[ns] then ns = ns .. 'Types' end
      if owner[ns] then
        error(string.format("plugins '%s' and '%s' would both declare namespace %s: rename one", owner[ns], d.plugin, ns), 0)
      end
      owner[ns], d.namespace = d.plugin, ns
    end
  end
end

-- Each plugin's type names -> how the file names them (Namespace.Name; a
-- name TypeScript or this file uses, or a keyword, gets the namespace as
-- a prefix too: Modules.ModulesPromise).
local function name_types(described)
  name_namespaces(described)
  for _, d in ipairs(described) do
    d.local_names, d.names = {}, {}
    for name in pairs(d.types or {}) do
      local own = (TAKEN[name] or RESERVED[name]) and d.namespace .. name or name
      d.local_names[name], d.names[name] = own, d.namespace .. '.' .. own
    end
  end
end

--- The declaration file's text for a list of plugin descriptions
-- (moonhost.runtime.describe of each plugin).
function M.generate(described, source)
  table.sort(described, function(a, b) return a.plugin < b.plugin end)
  name_types(described)
  local out = {
    '// Generated by `moonhost types` from ' .. (source or 'the plugins') .. '. Do not edit: run it again',
    '// after changing a plugin. MoonhostFunctions are the functions clients call',
    '// (birpc, or rpc.typed<MoonhostFunctions>() of the moonhost client);',
    '// MoonhostClientFunctions are the ones plugins call on clients.',
    '',
  }
  for _, d in ipairs(described) do
    if d.namespace then
      out[#out + 1] = '/** The named types of plugin ' .. d.plugin .. ' */'
      out[#out + 1] = 'export namespace ' .. d.namespace .. ' {'
      for _, name in ipairs(sorted_keys(d.types)) do
        out[#out + 1] = '  export type ' .. d.local_names[name] .. ' = ' .. ts(schema.parse(d.types[name], name), d.names)
      end
      out[#out + 1] = '}'
    end
  end
  out[#out + 1] = ''
  -- Type aliases, not interfaces: an interface has no implicit index
  -- signature, so it would not fit a Record<string, fn> constraint such as
  -- the moonhost client's typed<F>(); interfaces can still extend an alias.
  out[#out + 1] = 'export type MoonhostFunctions = {'
  for _, d in ipairs(described) do
    local fns = d.functions or {}
    table.sort(fns, function(a, b) return a.name < b.name end)
    for _, f in ipairs(fns) do
      -- A stream is read over HTTP only (MoonhostORPC): a WebSocket call of
      -- it is refused, so the WebSocket map leaves it out.
      if f.stream then goto next_fn end
      out[#out + 1] = comment((f.description and f.description .. ' ' or '') .. '(' .. d.plugin .. ', ' .. f.type .. ')', '  ')
      out[#out + 1] = '  ' .. js_string(f.name) .. ': ' .. M.signature(f.args, f.returns, f.params, d.names, f.type == 'event')
      ::next_fn::
    end
  end
  out[#out + 1] = '}'
  out[#out + 1] = ''
  out[#out + 1] = 'export type MoonhostClientFunctions = {'
  local seen = {}
  for _, d in ipairs(described) do
    for _, name in ipairs(sorted_keys(d.client_functions)) do
      local cf = d.client_functions[name]
      if not seen[name] then
        seen[name] = true
        if cf.description then out[#out + 1] = comment(cf.description, '  ') end
        out[#out + 1] = '  ' .. js_string(name) .. ': ' .. M.signature(cf.args, cf.returns, cf.params, d.names, cf.returns == nil)
      end
    end
  end
  out[#out + 1] = '}'
  out[#out + 1] = ''
  out[#out + 1] = '// The same functions over HTTP: createORPCClient<MoonhostORPC>(new RPCLink(...)) of'
  out[#out + 1] = "// @orpc/client. The input is the one argument; an array of the arguments for a"
  out[#out + 1] = '// function that declares two or more.'
  out[#out + 1] = 'export type MoonhostORPC = {'
  orpc_lines(orpc_tree(described), '  ', out)
  out[#out + 1] = '}'
  out[#out + 1] = ''
  out[#out + 1] = "declare module '@vitejs/devtools-kit' {"
  out[#out + 1] = '  interface DevToolsRpcFunctions extends MoonhostFunctions {}'
  out[#out + 1] = '  interface DevToolsRpcServerFunctions extends MoonhostFunctions {}'
  out[#out + 1] = '  interface DevToolsRpcClientFunctions extends MoonhostClientFunctions {}'
  out[#out + 1] = '}'
  return table.concat(out, '\n') .. '\n'
end

local function read_file(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local text = f:read('a')
  f:close()
  return text
end

local function plural(n, word) return n .. ' ' .. word .. (n == 1 and '' or 's') end

-- Writes text to path unless it holds that already (so `--watch` with the
-- file under plugins/ does not wake itself up). Returns an error or nil.
local function write_if_changed(path, text, count)
  if read_file(path) == text then
    io.stderr:write(string.format('moonhost types: %s is up to date (%s)\n', path, plural(count, 'plugin')))
    return nil
  end
  local f, err = io.open(path, 'w')
  if not f then return err end
  f:write(text)
  f:close()
  io.stderr:write(string.format('moonhost types: wrote %s (%s)\n', path, plural(count, 'plugin')))
  return nil
end

function M.main(_, opts)
  local core = require 'moonhost.testing.core'
  local testing = require 'moonhost.testing'
  local described, failed = {}, 0
  for _, e in ipairs(core.plugin_entries(opts.plugins_dir)) do
    local ok, err = pcall(testing._load, e.name, e.path, e.dir)
    if ok then
      described[#described + 1] = core.describe(e.name)
    else
      failed = failed + 1
      io.stderr:write(string.format('moonhost types: %s: %s\n', e.name, tostring(type(err) == 'table' and err.message or err)))
    end
  end
  local ok, text = pcall(M.generate, described, opts.plugins_dir .. '/')
  if not ok then
    io.stderr:write('moonhost types: ' .. tostring(text) .. '\n')
    return 1
  end
  if opts.out then
    local err = write_if_changed(opts.out, text, #described)
    if err then
      io.stderr:write('moonhost types: ' .. err .. '\n')
      return 1
    end
  else
    io.write(text)
  end
  return failed > 0 and 1 or 0
end

return M
