--- ctx.rpc.shared_state: a value kept in step between the plugin and every
-- subscribed client (devframe's shared state). The value lives in the host
-- (moonhost.state); this is the handle a plugin holds.
local state = require 'moonhost.state'
local options = require 'moonhost.options'

local S = {}

local Handle = {}
Handle.__index = Handle

--- The current value (a fresh copy: changing it changes nothing).
function Handle:get() return state.get(self.key) end

--- Replaces the value; subscribed clients get it (as patches when declared so).
function Handle:set(value) state.set(self.key, value) end

--- fn(draft) changes a copy of the value (or returns a new one); the result
-- is sent once, as one update.
function Handle:update(fn)
  if type(fn) ~= 'function' then options.raise('shared state update: expected a function') end
  local draft = state.get(self.key)
  local returned = fn(draft)
  if returned ~= nil then draft = returned end
  state.set(self.key, draft)
end

--- fn(value, client_id) after a client changed the value (not after the
-- plugin's own set/update).
function Handle:on_change(fn)
  if type(fn) ~= 'function' then options.raise('shared state on_change: expected a function') end
  state.on_change(self.key, fn)
end

function S.open(key, opts)
  if type(key) ~= 'string' or key == '' then
    options.raise('ctx.rpc.shared_state: expected a key (a non-empty string), got ' .. type(key))
  end
  opts = opts or {}
  if type(opts) ~= 'table' then options.raise('ctx.rpc.shared_state: options must be a table') end
  options.check_keys(opts, { 'initial', 'patches', 'readonly' }, 'ctx.rpc.shared_state options')
  state.declare(key, opts.initial, opts.patches == true, opts.readonly == true)
  return setmetatable({ key = key }, Handle)
end

S.keys = state.keys

return S
