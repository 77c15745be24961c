-- Specs for lua/moonhost/schema.lua (typed args/returns) and the TypeScript
-- that lua/moonhost/types.lua writes from it; plain busted on Lua 5.4.
package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path
local moonhost = require 'moonhost'
local schema = require 'moonhost.schema'
local types = require 'moonhost.types'

local function check(spec, value, named)
  local tnodes = named and schema.parse_types(named, 'types') or {}
  return schema.check(schema.parse(spec, 'spec'), value, 'argument 1', tnodes)
end

describe('moonhost.schema', function()
  it('accepts matching values', function()
    assert.is_nil(check('string', 'x'))
    assert.is_nil(check('number', 1.5))
    assert.is_nil(check('integer', 3))
    assert.is_nil(check('integer', 3.0))
    assert.is_nil(check('boolean', false))
    assert.is_nil(check('string[]', { 'a', 'b' }))
    assert.is_nil(check('string[]', moonhost.array({})))
    assert.is_nil(check('string|number', 2))
    assert.is_nil(check('"add"|"change"', 'add'))
    assert.is_nil(check('(string|number)[]', { 'a', 1 }))
    assert.is_nil(check('any', nil))
    assert.is_nil(check('Date', moonhost.date(0)))
    assert.is_nil(check('URL', moonhost.url('https://x.test/')))
    assert.is_not_nil(check('URL', 'https://x.test/'))
    assert.is_nil(check({ id = 'string', ['tags?'] = 'string[]' }, { id = 'x' }))
    assert.is_nil(check({ id = 'string' }, { id = 'x', extra = true }))
  end)

  it('lets an optional value be absent, null or undefined', function()
    for _, v in ipairs { moonhost.null, moonhost.undefined } do assert.is_nil(check('string?', v)) end
    assert.is_nil(check('string?', nil))
    assert.is_nil(check({ ['n?'] = 'integer' }, {}))
    assert.is_nil(check({ n = 'integer?' }, { n = moonhost.null }))
  end)

  it('names the path, what it expected and what it got', function()
    assert.are.equal('argument 1: expected string, got number', check('string', 1))
    assert.are.equal('argument 1: expected string, got null', check('string', nil))
    assert.are.equal('argument 1: expected integer, got number', check('integer', 1.5))
    assert.are.equal('argument 1[2]: expected string, got boolean', check('string[]', { 'a', true }))
    assert.are.equal('argument 1.includeSource: expected boolean, got string',
      check({ includeSource = 'boolean?' }, { includeSource = 'yes' }))
    assert.are.equal('argument 1["a-b"]: expected number, got string', check({ ['a-b'] = 'number' }, { ['a-b'] = 'x' }))
    assert.are.equal('argument 1: expected "add" | "change", got string', check('"add"|"change"', 'remove'))
    assert.are.equal('argument 1: expected object, got array', check({ id = 'string' }, moonhost.array({ 1 })))
    local msg, data = check('string', 1)
    assert.are.same({ path = 'argument 1', expected = 'string', got = 'number' }, data)
    assert.is_string(msg)
  end)

  it('resolves named types, recursive ones too', function()
    local named = { Tree = { name = 'string', ['children?'] = 'Tree[]' } }
    assert.is_nil(check('Tree', { name = 'a', children = { { name = 'b' } } }, named))
    assert.are.equal('argument 1.children[1].name: expected string, got number',
      check('Tree', { name = 'a', children = { { name = 1 } } }, named))
  end)

  it('rejects malformed schemas when they are defined', function()
    local function err(spec) return select(2, pcall(schema.parse, spec, 'args[1]')) end
    assert.matches("args%[1%]: expected a type name", err('string|'))
    assert.matches("unexpected ']'", err('string]'))
    assert.matches("missing '%)'", err('(string'))
    assert.matches('lists fields by name', err({ 'string' }))
    assert.matches("unknown type 'Nope'", select(2, pcall(schema.check_refs, schema.parse('Nope[]', 'x'), {}, 'x')))
    assert.matches('built%-in type', select(2, pcall(schema.parse_types, { string = 'number' }, 'types')))
  end)

  it('checks argument lists, with extra arguments refused', function()
    local bad = schema.args_checker(schema.parse_args({ 'string', 'number?' }, 'args'), {})
    assert.is_nil(bad('a'))
    assert.is_nil(bad('a', 1))
    assert.is_nil(bad('a', nil, nil)) -- trailing nulls are not arguments
    assert.are.equal('argument 2: expected number, got string', bad('a', 'b').message)
    assert.are.same('bad_request', bad(1).code)
    assert.are.equal('expected at most 2 arguments, got 3', bad('a', 1, 'c').message)
  end)

  it('leaves handlers without args untouched', function()
    local h = function() end
    assert.are.equal(h, schema.wrap(h, nil, {}))
  end)
end)

describe('moonhost.define_rpc_function with a schema', function()
  it('keeps args and returns, parsed', function()
    local def = moonhost.define_rpc_function { name = 'a:b', args = { 'string' }, returns = 'Module[]', handler = print }
    assert.are.same({ 'string' }, def.args)
    assert.are.equal('array', def.returns_node.kind)
  end)

  it('reports a bad schema at the definition', function()
    local ok, err = pcall(moonhost.define_rpc_function, { name = 'a:b', args = { 'strin g' }, handler = print })
    assert.is_false(ok)
    assert.matches("'a:b' args%[1%]: unexpected 'g'", err)
  end)
end)

describe('moonhost types output', function()
  local function sig(args, returns, params, names) return types.signature(args, returns, params, names or {}) end

  it('writes parameters from the handler and types from the schema', function()
    assert.are.equal('(a: number, b: number) => Promise<number>', sig({ 'number', 'number' }, 'number', { 'a', 'b' }))
    assert.are.equal('(...args: any[]) => Promise<any>', sig(nil, nil))
    assert.are.equal('() => Promise<void>', sig({}, 'void'))
    assert.are.equal('(arg1: string, arg2: { includeSource?: boolean | null }) => Promise<Module[]>',
      sig({ 'string', { includeSource = 'boolean?' } }, 'Module[]', {}, { Module = 'Module' }))
    assert.are.equal('(class_: string) => Promise<any>', sig({ 'string' }, nil, { 'class_' }))
    assert.are.equal('(arg1: string) => Promise<any>', sig({ 'string' }, nil, { 'class' }))
  end)

  it('makes optional parameters before a required one take undefined instead', function()
    assert.are.equal('(a: string | null | undefined, b: number) => Promise<any>', sig({ 'string?', 'number' }, nil, { 'a', 'b' }))
  end)

  local function generate(list)
    local copy = {}
    for i, d in ipairs(list) do copy[i] = d end
    return types.generate(copy)
  end
  local one = { plugin = 'one', types = { Item = 'string' }, functions = { { name = 'one:get', type = 'query', returns = 'Item' } } }

  it('puts each plugin\'s types in a namespace of its own and augments @vitejs/devtools-kit', function()
    local text = generate {
      one,
      { plugin = 'two-x', types = { Item = 'number', Promise = 'string' }, functions = {},
        client_functions = { ['two:ev'] = { args = { 'Item' } }, ['two:ask'] = { returns = 'boolean' } } },
    }
    assert.matches("export namespace One {\n  export type Item = string\n}", text, 1, true)
    assert.matches("export namespace TwoX {\n  export type Item = number\n  export type TwoXPromise = string\n}", text, 1, true)
    assert.matches("'one:get': (...args: any[]) => Promise<One.Item>", text, 1, true)
    assert.matches("interface DevToolsRpcFunctions extends MoonhostFunctions {}", text, 1, true)
    assert.matches("interface DevToolsRpcClientFunctions extends MoonhostClientFunctions {}", text, 1, true)
  end)

  it('keeps a plugin\'s type names whatever other plugins define', function()
    local alone = generate { one }
    local with_other = generate { one, { plugin = 'alpha', types = { Item = 'number' }, functions = {} } }
    assert.matches("'one:get': (...args: any[]) => Promise<One.Item>", alone, 1, true)
    assert.matches("'one:get': (...args: any[]) => Promise<One.Item>", with_other, 1, true)
    assert.matches("export namespace Alpha {\n  export type Item = number\n}", with_other, 1, true)
  end)

  it('refuses two plugins whose names make the same namespace', function()
    local ok, err = pcall(generate, { one, { plugin = 'o-ne', types = { X = 'string' }, functions = {} },
      { plugin = 'one_', types = { Y = 'string' }, functions = {} } })
    assert.is_false(ok)
    assert.matches("would both declare namespace", err)
  end)

  it('types events and client functions without returns as void', function()
    local text = generate {
      { plugin = 'ev', functions = { { name = 'ev:note', type = 'event', args = { 'string' }, params = { 'text' } },
                                      { name = 'ev:get', type = 'query', returns = 'number' } },
        client_functions = { ['ev:changed'] = { args = { 'number' } }, ['ev:ask'] = { returns = 'boolean' } } },
    }
    assert.matches("'ev:note': (text: string) => void", text, 1, true)
    assert.matches("'ev:get': (...args: any[]) => Promise<number>", text, 1, true)
    assert.matches("'ev:changed': (arg1: number) => void", text, 1, true)
    assert.matches("'ev:ask': (...args: any[]) => Promise<boolean>", text, 1, true)
  end)
end)
