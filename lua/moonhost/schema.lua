--- moonhost.schema: the small type language of `args`, `returns` and a
-- plugin's `types` (docs/plugins.md "Typed functions").
--
--   'string' 'number' 'integer' 'boolean' 'null' 'any' 'unknown' 'void'
--   'object' 'array' 'Date' 'BigInt' 'Map' 'Set' 'RegExp' 'URL'
--   'T[]' (array of T)   'A|B' (either)   '"add"' (a literal)   '(A|B)[]'
--   'T?' (may be absent or null)   'Module' (a name from the plugin's types)
--   { id = 'string', ['deps?'] = 'string[]' }   (an object; extra keys allowed)
--
-- Specs are parsed once, when a function is defined; calls run compiled
-- checkers. Pure Lua: it also runs under plain busted (tests/lua).
local moonhost = require 'moonhost'

local S = {}

local PRIMS = {
  string = 'string', number = 'number', integer = 'number', boolean = 'boolean', null = 'null',
  any = 'any', unknown = 'unknown', void = 'void', object = 'Record<string, any>', array = 'any[]',
  Date = 'Date', BigInt = 'bigint', Map = 'Map<any, any>', Set = 'Set<any>', RegExp = 'RegExp', URL = 'URL',
}
S.primitives = PRIMS

-- ---- parsing -----------------------------------------------------------

local function perr(where, msg) error(where .. ': ' .. msg, 0) end

-- Recursive descent over a type expression string.
local function parse_expr(src, where)
  local pos = 1
  local function skip() pos = src:find('[^%s]', pos) or #src + 1 end
  local function peek() skip() return src:sub(pos, pos) end
  local parse_union
  local function primary()
    local c = peek()
    if c == '(' then
      pos = pos + 1
      local node = parse_union()
      if peek() ~= ')' then perr(where, "missing ')' in '" .. src .. "'") end
      pos = pos + 1
      return node
    elseif c == '"' or c == "'" then
      local close = src:find(c, pos + 1, true)
      if not close then perr(where, 'unterminated literal in \'' .. src .. "'") end
      local value = src:sub(pos + 1, close - 1)
      pos = close + 1
      return { kind = 'lit', value = value }
    end
    local name = src:match('^[%a_][%w_]*', pos)
    if not name then perr(where, "expected a type name at '" .. src:sub(pos) .. "' in '" .. src .. "'") end
    pos = pos + #name
    if PRIMS[name] then return { kind = 'prim', name = name } end
    return { kind = 'ref', name = name }
  end
  local function postfix()
    local node = primary()
    while src:sub(pos, pos + 1) == '[]' do
      pos = pos + 2
      node = { kind = 'array', of = node }
    end
    return node
  end
  parse_union = function()
    local alts = { postfix() }
    while peek() == '|' do
      pos = pos + 1
      alts[#alts + 1] = postfix()
    end
    return #alts == 1 and alts[1] or { kind = 'union', of = alts }
  end
  local node = parse_union()
  local optional = peek() == '?'
  if optional then pos = pos + 1 end
  if peek() ~= '' then perr(where, "unexpected '" .. src:sub(pos) .. "' in '" .. src .. "'") end
  if optional then node = { kind = 'optional', of = node } end
  return node
end

local function is_ident(k) return type(k) == 'string' and k:match('^[%a_][%w_]*$') ~= nil end

--- Parses a spec (a string or an object table) into a node; raises with
-- `where` naming the place on a syntax error.
function S.parse(spec, where)
  if type(spec) == 'string' then return parse_expr(spec, where) end
  if type(spec) ~= 'table' then perr(where, 'a type is a string or a table of fields, got ' .. type(spec)) end
  local fields = {}
  for key, sub in pairs(spec) do
    if type(key) ~= 'string' then
      perr(where, 'a table type lists fields by name ({ id = \'string\' }); use \'T[]\' for arrays')
    end
    local name, optional = key:match('^(.-)(%??)$')
    local node = S.parse(sub, where .. '.' .. name)
    if optional == '?' and node.kind ~= 'optional' then node = { kind = 'optional', of = node } end
    fields[#fields + 1] = { name = name, node = node }
  end
  table.sort(fields, function(a, b) return a.name < b.name end)
  return { kind = 'object', fields = fields }
end

--- Parses a list of argument specs.
function S.parse_args(list, where)
  if type(list) ~= 'table' then perr(where, 'args must be a list of types, e.g. { \'string\', \'number?\' }') end
  local n = 0
  for k in pairs(list) do
    if math.type(k) ~= 'integer' or k < 1 then perr(where, 'args must be a list (one type per argument)') end
    n = math.max(n, k)
  end
  local nodes = {}
  for i = 1, n do
    if list[i] == nil then perr(where, 'args[' .. i .. '] is missing') end
    nodes[i] = S.parse(list[i], where .. '[' .. i .. ']')
  end
  return nodes
end

--- Parses a plugin's types table { Name = spec }.
function S.parse_types(types, where)
  if type(types) ~= 'table' then perr(where, 'types must be a table { Name = type }') end
  local out = {}
  for name, spec in pairs(types) do
    if not is_ident(name) then perr(where, 'type names must be identifiers, got ' .. tostring(name)) end
    if PRIMS[name] then perr(where, "'" .. name .. "' is a built-in type and cannot be redefined") end
    out[name] = S.parse(spec, where .. '.' .. name)
  end
  return out
end

--- Raises if a node names a type that `types` does not define.
function S.check_refs(node, types, where)
  if node.kind == 'ref' then
    if not types[node.name] then perr(where, "unknown type '" .. node.name .. "'") end
  elseif node.kind == 'array' or node.kind == 'optional' then
    S.check_refs(node.of, types, where)
  elseif node.kind == 'union' then
    for _, n in ipairs(node.of) do S.check_refs(n, types, where) end
  elseif node.kind == 'object' then
    for _, f in ipairs(node.fields) do S.check_refs(f.node, types, where .. '.' .. f.name) end
  end
end

-- ---- checking ----------------------------------------------------------

local array_mt = getmetatable(moonhost.array({}))
local NULL, UNDEFINED = moonhost.null, moonhost.undefined
local JS_TYPES = {
  Date = moonhost.Date, BigInt = moonhost.BigInt, Map = moonhost.Map, Set = moonhost.Set, RegExp = moonhost.RegExp,
  URL = moonhost.URL,
}

-- Decoded JSON arrays carry the array marker; plain Lua tables (a spec
-- building values by hand) count when their keys are exactly 1..n.
local function is_array(v)
  local mt = getmetatable(v)
  if mt == array_mt then return true end
  if mt ~= nil then return false end
  local n = #v
  local count = 0
  for _ in pairs(v) do count = count + 1 end
  return count == n
end

local function is_object(v)
  local mt = getmetatable(v)
  if mt == array_mt or mt ~= nil then return false end
  return next(v) == nil or #v == 0
end

--- What a value is, in the words of the messages ("got string").
function S.typeof(v)
  if v == nil or v == NULL then return 'null' end
  if v == UNDEFINED then return 'undefined' end
  local t = type(v)
  if t ~= 'table' then return t end
  local mt = getmetatable(v)
  for name, jmt in pairs(JS_TYPES) do
    if mt == jmt then return name end
  end
  if mt == nil and next(v) == nil then return 'object' end
  return is_array(v) and 'array' or 'object'
end

--- The TypeScript-like text of a node ("boolean", "string[]", "Module").
function S.describe(node)
  local k = node.kind
  if k == 'prim' then return node.name end
  if k == 'ref' then return node.name end
  if k == 'lit' then return string.format('%q', node.value) end
  if k == 'optional' then return S.describe(node.of) .. '?' end
  if k == 'array' then
    local inner = S.describe(node.of)
    return (node.of.kind == 'union' and '(' .. inner .. ')' or inner) .. '[]'
  end
  if k == 'union' then
    local parts = {}
    for i, n in ipairs(node.of) do parts[i] = S.describe(n) end
    return table.concat(parts, ' | ')
  end
  return 'object'
end

local function field_path(path, name)
  return is_ident(name) and (path .. '.' .. name) or string.format('%s[%q]', path, name)
end

local PRIM_CHECK = {
  string = function(v) return type(v) == 'string' end,
  number = function(v) return type(v) == 'number' end,
  integer = function(v) return math.type(v) == 'integer' or (math.type(v) == 'float' and math.tointeger(v) ~= nil) end,
  boolean = function(v) return type(v) == 'boolean' end,
  null = function(v) return v == nil or v == NULL end,
  any = function() return true end,
  unknown = function() return true end,
  void = function(v) return v == nil or v == UNDEFINED end,
  object = function(v) return type(v) == 'table' and is_object(v) end,
  array = function(v) return type(v) == 'table' and is_array(v) end,
}
for name, mt in pairs(JS_TYPES) do
  PRIM_CHECK[name] = function(v) return type(v) == 'table' and getmetatable(v) == mt end
end

-- check(node, v, path, types) -> nil, or path, expected, got of the first mismatch.
-- check(node, v, types) -> nil when v matches; else the path below v of
-- the first mismatch ("" for v itself, ".id", "[2].name"), what was expected
-- and what was found. Paths are built only on the way out of a mismatch,
-- so a matching call allocates nothing.
local function check(node, v, types)
  local k = node.kind
  if k == 'prim' then
    if PRIM_CHECK[node.name](v) then return nil end
  elseif k == 'optional' then
    if v == nil or v == NULL or v == UNDEFINED then return nil end
    return check(node.of, v, types)
  elseif k == 'ref' then
    return check(types[node.name], v, types)
  elseif k == 'lit' then
    if v == node.value then return nil end
  elseif k == 'array' then
    if type(v) == 'table' and is_array(v) then
      for i = 1, #v do
        local p, e, g = check(node.of, v[i], types)
        if p then return '[' .. i .. ']' .. p, e, g end
      end
      return nil
    end
  elseif k == 'union' then
    for _, alt in ipairs(node.of) do
      if not check(alt, v, types) then return nil end
    end
  elseif k == 'object' then
    if type(v) == 'table' and is_object(v) then
      for _, f in ipairs(node.fields) do
        local p, e, g = check(f.node, v[f.name], types)
        if p then return field_path('', f.name) .. p, e, g end
      end
      return nil
    end
  end
  return '', S.describe(node), S.typeof(v)
end

--- Checks one value against a node: nil when it matches, else
-- "PATH: expected X, got Y" and {path=, expected=, got=}.
function S.check(node, v, path, types)
  local sub, expected, got = check(node, v, types or {})
  if not sub then return nil end
  local p = (path or 'value') .. sub
  return p .. ': expected ' .. expected .. ', got ' .. got, { path = p, expected = expected, got = got }
end

-- The caller sent the wrong arguments: an answer, not a fault of the
-- plugin, so the host logs it at debug without a traceback.
local bad_request_mt = {
  __name = 'moonhost.bad_request',
  __moonhost_answer = true,
  __tostring = function(e) return e.message .. ' (bad_request)' end,
}

local function bad_request(message, data)
  return setmetatable({ code = 'bad_request', message = message, data = data }, bad_request_mt)
end

--- A function(...) that returns nil when the arguments match the nodes, or
-- a bad_request error table naming the first mismatch.
function S.args_checker(nodes, types)
  local n = #nodes
  local paths = {}
  for i = 1, n do paths[i] = 'argument ' .. i end
  return function(...)
    local given = select('#', ...)
    for i = 1, n do
      local msg, data = S.check(nodes[i], (select(i, ...)), paths[i], types)
      if msg then return bad_request(msg, data) end
    end
    for i = n + 1, given do
      if (select(i, ...)) ~= nil then
        return bad_request(string.format('expected at most %d argument%s, got %d', n, n == 1 and '' or 's', given),
          { expected = n, got = given })
      end
    end
  end
end

--- The handler itself when there is no args schema (no cost per call);
-- otherwise a wrapper that answers bad_request before the handler runs.
function S.wrap(handler, arg_nodes, types)
  if not arg_nodes then return handler end
  local bad = S.args_checker(arg_nodes, types)
  return function(...)
    local err = bad(...)
    if err then error(err, 0) end
    return handler(...)
  end
end

return S
