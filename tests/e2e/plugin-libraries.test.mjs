// Plugins can require the system's Lua 5.4 libraries after their own
// directory (docs/plugins.md "Libraries"): Debian's pure-Lua dkjson
// (setup.sh --tests installs lua-dkjson) and the lfs C module
// (lua-filesystem) to list a directory.
import test from 'node:test'
import assert from 'node:assert/strict'
import { writeTree } from './lib/host.mjs'
import { hostFor } from './lib/util.mjs'

const plugin = `local moonhost = require 'moonhost'
local json = require 'dkjson'
local lfs = require 'lfs'
return moonhost.plugin { name = 'libs', setup = function(ctx)
  ctx.rpc.register(moonhost.define_rpc_function { name = 'libs:encode', handler = function(list)
    return json.encode(list)
  end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'libs:decode', handler = function(text)
    return (json.decode(text))
  end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'libs:ls', handler = function(dir)
    local names = {}
    for name in lfs.dir(ctx.root .. '/' .. dir) do
      if name ~= '.' and name ~= '..' then names[#names + 1] = name end
    end
    table.sort(names)
    return moonhost.array(names)
  end })
  ctx.rpc.register(moonhost.define_rpc_function { name = 'libs:cpath', handler = function() return package.cpath end })
end }
`

test('a plugin requires dkjson and lfs from the system Lua paths', async (t) => {
  const plugins = writeTree({ 'libs.lua': plugin })
  const root = writeTree({ 'data/b.txt': 'b', 'data/a.txt': 'a', 'data/sub/c.txt': 'c' })
  const host = await hostFor(t, { plugins, root })
  const c = await host.connect()
  assert.equal(await c.rpc['libs:encode']([1, 'two', true]), '[1,"two",true]')
  assert.deepEqual(await c.rpc['libs:decode']('{"a":[1,2]}'), { a: [1, 2] })
  assert.deepEqual(await c.rpc['libs:ls']('data'), ['a.txt', 'b.txt', 'sub'])
  const cpath = await c.rpc['libs:cpath']()
  for (const entry of cpath.split(';')) assert.match(entry, /^\/.*\/\?\.so$/, `only absolute ?.so entries: ${cpath}`)
})
