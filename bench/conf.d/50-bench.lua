-- Configuration of the moonhost that bench/run starts: moonhost's built-in
-- defaults (conf.d/00-defaults.lua documents them) with these keys changed.
-- bench/run copies this directory and, when the host has `auth`, adds a
-- fragment that trusts the token its load generators present.
return {
  log = { level = 'warn' },
  limits = {
    -- the fan-out opens up to 10 000 clients plus the one that triggers the broadcast
    max_connections = 20000,
  },
}
