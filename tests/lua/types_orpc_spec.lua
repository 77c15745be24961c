-- moonhost types: the MoonhostORPC declaration (inputs as the HTTP endpoint reads them).
local types = require 'moonhost.types'

describe('moonhost types, oRPC inputs', function()
  it('takes the one argument, an array of two or more, anything without a schema', function()
    assert.equal('(input?: any) => Promise<any>', types.orpc_signature(nil, nil, {}, {}))
    assert.equal('(input?: undefined) => Promise<number>', types.orpc_signature({}, 'number', {}, {}))
    assert.equal('(input: number[]) => Promise<any>', types.orpc_signature({ 'number[]' }, nil, { 'list' }, {}))
    assert.equal('(input?: string | null) => Promise<any>', types.orpc_signature({ 'string?' }, nil, {}, {}))
    assert.equal('(input: [a: number, b?: string | null]) => Promise<any>',
      types.orpc_signature({ 'number', 'string?' }, nil, { 'a', 'b' }, {}))
  end)

  it('nests by the colons of the names; a function that is also a prefix is both', function()
    local text = types.generate({ { plugin = 'p', types = {}, functions = {
      { name = 'a', type = 'action', params = {} },
      { name = 'a:b-c', type = 'action', args = { 'number', 'number' }, params = { 'x', 'y' } },
      { name = 'x/y', type = 'action', params = {} },
    } } })
    local orpc = text:match('export type MoonhostORPC = {\n(.-)\n}\n')
    assert.equal("  a: ((input?: any) => Promise<any>) & {\n    'b-c': (input: [x: number, y: number]) => Promise<any>\n  }", orpc)
  end)
end)
