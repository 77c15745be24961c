local testing = require 'moonhost.testing'

local function names(list)
  local out = {}
  for i, e in ipairs(list) do out[i] = e.name end
  return out
end

describe('files', function()
  before_each(function()
    testing.root(testing.tmpdir()) -- ctx.root of the plugin: a fresh project
    testing.touch('README.md', 'hello')
    testing.touch('src/main.lua', 'print(1)')
    testing.load_plugin('../files.lua')
  end)
  after_each(testing.reset)

  it('lists a directory, directories first', function()
    local list = testing.call('files:list')
    assert.are.same({ 'src', 'README.md' }, names(list))
    assert.are.same({ name = 'README.md', type = 'file', size = 5 }, list[2])
    assert.are.same({ 'main.lua' }, names(testing.call('files:list', 'src')))
  end)

  it('caches listings until a file under the root changes', function()
    local client = testing.connect_client()
    testing.call('files:list', 'src')
    testing.call('files:list', 'src')
    assert.are.equal(1, testing.call('moonhost:stats').functions['files:list'].hits)

    testing.touch('src/util.lua', 'return {}')
    assert.are.same({ 'src/util.lua', 'add' }, { client:wait_for('files:changed') })
    assert.are.same({ 'main.lua', 'util.lua' }, names(testing.call('files:list', 'src')))
  end)

  it('stays inside the project root', function()
    assert.are.equal('bad_request', testing.error_of(testing.call, 'files:list', '../etc').code)
    assert.are.equal('bad_request', testing.error_of(testing.call, 'files:list', '/etc').code)
    assert.are.equal('not_found', testing.error_of(testing.call, 'files:list', 'nope').code)
  end)
end)
