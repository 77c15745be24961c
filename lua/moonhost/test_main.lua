--- `moonhost test`: busted's own runner, on moonhost's runner state (so a
-- spec's `require 'moonhost.testing'` gets the real host). Output, options
-- and exit codes are busted's; host/cli/cmd_test.c passes its arguments on.
local M = {}

-- busted options that take the next word as their value, so that word is
-- not mistaken for a PATH.
local VALUED = {}
for opt in ([[-p --pattern --exclude-pattern -e -o --output -C --directory -f --config-file --coverage-config-file
  -t --tags --exclude-tags --filter --filter-out -m --lpath --cpath -r --run --repeat --seed --lang --loaders
  --helper --lua -Xoutput -Xhelper]]):gmatch('%S+') do VALUED[opt] = true end

--- Whether the arguments name any PATH (busted would otherwise look in ./spec).
function M.has_paths(args)
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == '--' then return i < #args end
    if a:sub(1, 1) ~= '-' or a == '-' then return true end
    if VALUED[a] then i = i + 1 end
    i = i + 1
  end
  return false
end

--- Whether the arguments ask for help (before any `--`).
function M.wants_help(args)
  for _, a in ipairs(args) do
    if a == '--' then return false end
    if a == '--help' or a == '-h' then return true end
  end
  return false
end

-- busted's option list, under moonhost's own usage line. busted itself
-- answers --help as an error (exit 1); help asked for is not one.
local function help(default_path)
  local cli = require 'busted.modules.cli'({ standalone = false })
  cli:set_name('moonhost test')
  local _, usage = cli:parse({ '--help' })
  usage = tostring(usage or ''):gsub('^moonhost test: error: ', ''):gsub('; re%-run with %-%-help for usage%.%s*$', '')
  io.write('moonhost test [options] [BUSTED OPTIONS] [PATHS...]: runs busted specs (*_spec.lua) with moonhost\n',
    'as the Lua interpreter; PATHS default to the plugins directory (', default_path or 'plugins', ').\n',
    "moonhost's options (--plugins, --config, --root, --log-level) may come anywhere; the rest are busted's:\n\n",
    usage, '\n')
end

function M.main(args, opts)
  -- Loaded before busted, so it is not dropped by busted's per-file
  -- insulation: the plugins and clients it tracks span files.
  require 'moonhost.testing'
  if not M.has_paths(args) then args[#args + 1] = opts.default_path end
  args[0] = 'moonhost test'
  _G.arg = args
  if not pcall(require, 'busted.core') then
    io.stderr:write('moonhost test: busted is not installed (Debian: apt-get install lua-busted)\n')
    return 1
  end
  if M.wants_help(args) then
    help(opts.default_path)
    return 0
  end
  -- busted names itself after the file that calls its runner.
  local run = assert(load("require 'busted.runner'({ standalone = false })", '@moonhost test'))
  run()
  return 0 -- a failed run ended in os.exit(1), which unwinds past here
end

return M
