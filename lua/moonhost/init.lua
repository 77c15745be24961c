--- moonhost: the library plugins `require`.
--
--   local moonhost = require 'moonhost'
--   return moonhost.plugin { name = 'demo', setup = function(ctx) ... end }
--
-- Pure Lua. Inside the host it uses moonhost.core (C); under a plain Lua
-- interpreter (busted) the definition helpers still work, and the calls
-- that need the host raise a clear error.
local M = {}

local has_core, core = pcall(require, 'moonhost.core')
if not has_core then core = nil end

local function no_host(what)
  return function() error(what .. ': only available inside moonhost', 2) end
end

M.version = '0.1.0'

--- JavaScript null inside tables (at the top level, arguments are plain nil).
M.null = core and core.null or setmetatable({}, { __name = 'moonhost.null', __tostring = function() return 'null' end })
--- JavaScript undefined inside tables.
M.undefined = core and core.undefined
  or setmetatable({}, { __name = 'moonhost.undefined', __tostring = function() return 'undefined' end })

local array_mt = core and core.array_mt or { __name = 'array' }

--- Marks a table as a JSON array, so that an empty one is sent as [] not {}.
function M.array(t)
  t = t or {}
  if type(t) ~= 'table' then error('moonhost.array: expected a table, got ' .. type(t), 2) end
  return setmetatable(t, array_mt)
end

--- Whether t is marked as an array (tables decoded from JSON arrays are).
function M.is_array(t) return type(t) == 'table' and getmetatable(t) == array_mt end

local FUNCTION_TYPES = { query = true, action = true, static = true, event = true }
local ERROR_CODES = {
  not_found = true, bad_request = true, unauthorized = true, too_large = true, rpc_timeout = true,
  rpc_cancelled = true, rpc_method_already_registered = true, overloaded = true, internal = true,
}
M.error_codes = ERROR_CODES

local error_mt = {
  __name = 'moonhost.error',
  __tostring = function(e) return string.format('%s (%s)', tostring(e.message), tostring(e.code)) end,
}

--- Raises a typed error that reaches the caller with its code and data:
--   moonhost.error { code = 'bad_request', message = 'id must be a number', data = { id = id } }
function M.error(spec, level)
  if type(spec) == 'string' then spec = { message = spec } end
  if type(spec) ~= 'table' then error('moonhost.error: expected a table {code=, message=, data=}', 2) end
  local code = spec.code or 'internal'
  if type(code) ~= 'string' or not code:match('^[%w_%-:.]+$') then
    error('moonhost.error: code must be a short identifier string', 2)
  end
  local e = setmetatable({ code = code, message = tostring(spec.message or code), data = spec.data,
                           name = spec.name or 'Error', status = spec.status }, error_mt)
  error(e, level or 2)
end

local function fail(where, msg) error(where .. ': ' .. msg, 3) end

--- Checks and normalises a function definition (see README "Plugin API").
function M.define_rpc_function(def)
  local where = 'moonhost.define_rpc_function'
  if type(def) ~= 'table' then fail(where, 'expected a table, got ' .. type(def)) end
  if type(def.name) ~= 'string' or def.name == '' then fail(where, 'name must be a non-empty string') end
  where = where .. " '" .. def.name .. "'"
  local ftype = def.type or 'query'
  if not FUNCTION_TYPES[ftype] then
    fail(where, "type must be 'query', 'action', 'static' or 'event', got " .. tostring(def.type))
  end
  if def.handler ~= nil and type(def.handler) ~= 'function' then fail(where, 'handler must be a function') end
  if def.setup ~= nil and type(def.setup) ~= 'function' then fail(where, 'setup must be a function') end
  if (def.handler == nil) == (def.setup == nil) then
    fail(where, 'give exactly one of handler = function(...) or setup = function(ctx) return { handler = ... } end')
  end
  local cache = def.cache
  if cache ~= nil and cache ~= false then
    if ftype ~= 'query' then fail(where, "cache is only for type 'query' (got '" .. ftype .. "')") end
    if cache == true then cache = {} end
    if type(cache) ~= 'table' then fail(where, 'cache must be true or a table { ttl = seconds, max = entries }') end
    if cache.ttl ~= nil and (type(cache.ttl) ~= 'number' or cache.ttl < 0) then
      fail(where, 'cache.ttl must be a number of seconds >= 0')
    end
    if cache.max ~= nil and (math.type(cache.max) ~= 'integer' or cache.max < 1) then
      fail(where, 'cache.max must be an integer >= 1')
    end
  else
    cache = nil
  end
  return {
    name = def.name, type = ftype, handler = def.handler, setup = def.setup, cache = cache,
    description = def.description, __moonhost_function = true,
  }
end

--- Declares a plugin; the plugin file returns what this returns.
function M.plugin(def)
  local where = 'moonhost.plugin'
  if type(def) ~= 'table' then fail(where, 'expected a table, got ' .. type(def)) end
  if def.name ~= nil and (type(def.name) ~= 'string' or def.name == '') then
    fail(where, 'name must be a non-empty string')
  end
  if type(def.setup) ~= 'function' then fail(where, 'setup must be a function(ctx)') end
  return { name = def.name, setup = def.setup, description = def.description, __moonhost_plugin = true }
end

--- Waits without blocking the host (only inside a handler or setup).
M.sleep = core and function(seconds) core.sleep(seconds) end or no_host('moonhost.sleep')

--- Milliseconds on the host's monotonic clock.
M.now = core and core.now or function() return math.floor(os.clock() * 1000) end

return M
