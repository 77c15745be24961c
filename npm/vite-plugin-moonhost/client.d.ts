// moonhost-client's types, for virtual.d.ts: the copy beside this package (in moonhost's tree,
// and in node_modules once both are installed), found from wherever this file really is.
export * from '../moonhost-client/client.js'
