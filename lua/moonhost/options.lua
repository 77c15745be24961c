--- moonhost.options: checks the option tables the plugin API takes (a key
-- that is not one of its options, a value that is not one of the allowed
-- ones) and raises mistakes at the line of the plugin or spec that made
-- them, never at a line of moonhost's own Lua. Used by the other modules
-- of lua/moonhost; pure Lua, so it also runs under plain busted.
local O = {}

-- The chunk names of moonhost's own modules start with this directory:
-- "@lua/moonhost/" when embedded in the binary, or where busted found us.
local OURS = debug.getinfo(1, 'S').source:match('^(@.*/)[^/]*$')

local function ours(info)
  if info.what == 'C' then return true end
  local src = info.source
  return OURS ~= nil and src:sub(1, #OURS) == OURS and not src:find('/', #OURS + 1, true)
end

-- The stack level (as getinfo counts it from the caller of this function)
-- of the first Lua function outside moonhost; `from` is where to start.
local function outside(from)
  for level = from, from + 60 do
    local info = debug.getinfo(level + 1, 'S')
    if not info then break end
    if not ours(info) then return level end
  end
  return nil
end

--- The plugin file being run (set by moonhost.runtime while the file's
-- main chunk runs).
O.loading = nil

-- `return moonhost.plugin { ... }` is a tail call: the plugin's own frame
-- is gone when moonhost.plugin raises. Then the line is that of the first
-- `needle =` in the file being loaded (the bad key), else none.
local function loading_where(needle)
  local file = O.loading
  if not file then return nil end
  local line = nil
  local f = needle and io.open(file, 'r')
  if f then
    local n = 0
    for text in f:lines() do
      n = n + 1
      if text:find('%f[%w_]' .. needle .. '%s*=') then line = n break end
    end
    f:close()
  end
  return file .. ':' .. (line and (line .. ':') or '') .. ' '
end

--- Raises msg (a string) at the plugin's or spec's line: the first caller
-- outside lua/moonhost, else (a tail call) where `needle =` is in the
-- plugin file being loaded, else with no position (a line of moonhost's
-- own Lua would only mislead; the log's traceback still shows the way).
function O.raise(msg, needle)
  local level = outside(2)
  if level then error(msg, level) end
  local where = loading_where(needle)
  if where then error(where .. msg, 0) end
  error(msg, 0)
end

--- "FILE:LINE: " of the plugin's or spec's line that called into moonhost
-- ("" when there is none): for error values that are tables, to which
-- error() adds no position.
function O.where()
  local level = outside(2)
  local info = level and debug.getinfo(level, 'Sl')
  if not info or info.currentline < 0 then return '' end
  return info.short_src .. ':' .. info.currentline .. ': '
end

-- Levenshtein distance, for "did you mean"; words here are short.
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

--- The candidate closest to word when it looks like a typo of it (at most
-- two edits, and fewer than the word's length), else nil. Ties go to the
-- first candidate, so the hint does not depend on table order.
function O.suggest(word, candidates)
  if type(word) ~= 'string' then return nil end
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = distance(word, c)
    if d <= 2 and d < #word and (not best_d or d < best_d) then best, best_d = c, d end
  end
  return best
end

local function quoted(list)
  local parts = {}
  for i, v in ipairs(list) do parts[i] = "'" .. v .. "'" end
  return table.concat(parts, ', ')
end
O.quoted = quoted

local function key_text(k)
  if type(k) == 'string' then return "'" .. k .. "'" end
  return '[' .. tostring(k) .. ']'
end

--- Raises when t has a key that is not in `known` (a list of names):
--   WHERE: unknown key 'typ', did you mean 'type'? (the keys are 'name', 'type', ...)
function O.check_keys(t, known, where)
  local set = {}
  for _, k in ipairs(known) do set[k] = true end
  local bad = {}
  for k in pairs(t) do
    if not set[k] then bad[#bad + 1] = k end
  end
  if #bad == 0 then return end
  table.sort(bad, function(a, b) return tostring(a) < tostring(b) end)
  local hint = O.suggest(bad[1], known)
  local needle = type(bad[1]) == 'string' and bad[1]:match('^[%a_][%w_]*$') or nil
  O.raise(where .. ': unknown key ' .. key_text(bad[1])
    .. (hint and (", did you mean '" .. hint .. "'?") or (' (the keys are ' .. quoted(known) .. ')')), needle)
end

--- Raises unless value is one of `allowed` (a list of strings):
--   WHERE: type must be 'query', 'action', ..., got 'acton'; did you mean 'action'?
function O.check_one_of(value, allowed, where, name)
  for _, a in ipairs(allowed) do
    if value == a then return end
  end
  local hint = O.suggest(value, allowed)
  local got = type(value) == 'string' and ("'" .. value .. "'") or tostring(value)
  O.raise(where .. ': ' .. name .. ' must be one of ' .. quoted(allowed) .. ', got ' .. got
    .. (hint and ("; did you mean '" .. hint .. "'?") or ''))
end

--- Raises unless value is nil or of Lua type `kind`.
function O.check_type(value, kind, where, name)
  if value ~= nil and type(value) ~= kind then
    O.raise(where .. ': ' .. name .. ' must be a ' .. kind .. ', got ' .. type(value))
  end
end

return O
