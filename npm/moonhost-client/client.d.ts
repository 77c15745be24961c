// Types of moonhost-client (client.js; the host serves them at /__moonhost/client.d.ts).
//
//   import { connect } from 'moonhost-client'
//   type Fns = { 'demo:add': (a: number, b: number) => number }
//   const rpc = connect({ url: 'ws://127.0.0.1:7812/__ws', token })
//   const n: number = await rpc.typed<Fns>()['demo:add'](1, 2)
//   const m: number = await rpc.typed<Fns>().demo.add(1, 2)

/** Codes the host sends (docs/protocol.md "Error codes") and the ones the client makes itself. */
export type RpcErrorCode =
  | 'not_found'
  | 'bad_request'
  | 'unauthorized'
  | 'too_large'
  | 'rpc_timeout'
  | 'rpc_cancelled'
  | 'rpc_method_already_registered'
  | 'overloaded'
  | 'internal'
  | 'buffer_overflow'
  | 'disconnected'

export declare const ERROR_CODES: readonly RpcErrorCode[]

export declare class RpcError extends Error {
  constructor(code: RpcErrorCode | (string & {}), message: string, data?: unknown, remoteName?: string)
  readonly name: 'RpcError'
  /** One of RpcErrorCode; a plugin may choose its own code with moonhost.error{code=}. */
  readonly code: RpcErrorCode | (string & {})
  /** What the host (or the client function) attached, when it did. */
  readonly data?: unknown
  /** The error's name where it was raised ('Error', ...), when it came over the wire. */
  readonly remoteName?: string
}

/** Any function map: name -> (args) => result (or a promise of it). */
export type Functions = Record<string, (...args: any[]) => unknown>

export type Status = 'connecting' | 'open' | 'reconnecting' | 'closed'

/**
 * A WebSocket class: the browser's, or the ws package's in Node. The client uses
 * readyState, binaryType, send(string), close(), and onopen/onmessage/onclose/onerror.
 */
export type WebSocketConstructor = new (url: string) => any

export interface ConnectOptions {
  /** ws://HOST:PORT/__ws; relative URLs (and none) resolve against the page; http(s) becomes ws(s). */
  url?: string | URL
  /** Sent as ?token= in the URL. Without it only `anonymous:*` functions answer (the rest: unauthorized). */
  token?: string
  /** Per-call wall-clock timeout, buffered time included. 0 or Infinity: none. Default 10000. */
  timeoutMs?: number
  /**
   * What calls do while the connection is down (after the first attempt):
   * 'fail' (default) rejects them with `disconnected`; 'pause' buffers them until
   * the reconnect. Before the first attempt settles, calls are buffered in both modes.
   * Calls already sent when the socket drops reject with `disconnected` in both modes
   * (the host cancelled them; sending them again could run an action twice).
   */
  onDisconnect?: 'fail' | 'pause'
  /** Bytes of serialized frames that may wait for a connection; over it: `buffer_overflow`. Default 65536. */
  bufferLimitBytes?: number
  /** Frames over this are refused locally with `too_large` (the host would close the socket with 1009). Default 1 MiB; 0 turns the check off. */
  maxMessageBytes?: number
  /** Defaults to globalThis.WebSocket; in Node 20 pass `WebSocket` from the ws package. */
  WebSocket?: WebSocketConstructor
  /** Exponential backoff with jitter between attempts; `false`: no reconnect (the client closes). Defaults 250 / 10000 ms. */
  reconnect?: { initialMs?: number; maxMs?: number } | false
}

export interface CallOptions {
  timeoutMs?: number
  /** Aborting rejects with `rpc_cancelled`; a sent call gets a cancel frame, a buffered one is never sent. */
  signal?: AbortSignal
}

export interface StreamOptions {
  /** Aborting ends the stream with `rpc_cancelled` and cancels the producer (its on_cancel cleanups run). */
  signal?: AbortSignal
  /** Start after this event id (the producer's `last_event_id`). */
  lastEventId?: string
  /** Chunks the host may send before this client acks them (1..1024, default 16). */
  window?: number
  /**
   * After a reconnect, start the stream again with the id of the last chunk received
   * (default true). Only when that chunk had an id, or none came yet; otherwise, or with
   * false, the stream ends with `disconnected` when the socket drops.
   */
  resume?: boolean
}

/** A stream being read: for await gives the chunks; next() gives { done: true, value: FINAL } at the end. */
export interface RpcStream<T = unknown, R = unknown> extends AsyncIterableIterator<T> {
  next(): Promise<IteratorResult<T, R | undefined>>
  /** Stops reading: the host cancels the producer. */
  return(value?: R): Promise<IteratorResult<T, R | undefined>>
  [Symbol.asyncIterator](): RpcStream<T, R>
  /** The id of the last chunk received that had one (what a resume sends). */
  readonly lastEventId: string | undefined
}

export type TryResult<T> =
  | { ok: true; value: T; error: undefined; reconnected: boolean }
  | { ok: false; value: undefined; error: RpcError; reconnected: boolean }

/**
 * `this` of a client function handler (use a `function`, not an arrow, to read it).
 * A handler run for an event (a frame without id) gets it only when the event carries a signed
 * identity (one relayed through the mesh); for any other event `this.identity` and `this.signal`
 * are undefined.
 */
export interface HandlerContext {
  /** Aborted when the host cancels the call ({"t":"c"}) or the socket drops; no reply is sent then.
   *  For an event never aborted (there is no reply to stop). */
  readonly signal: AbortSignal
  /** For a call or event relayed through the mesh: who sent it, as the host signed it (check with mesh.verify). */
  readonly identity?: MeshIdentity
}

export type ClientHandler = (this: HandlerContext, ...args: any[]) => unknown

export interface ClientFunction<F extends ClientHandler = ClientHandler> {
  name: string
  /** Informational, as in defineRpcFunction. Default 'action'. */
  type?: 'query' | 'action' | 'static' | 'event'
  /** Its return value (or the value its promise resolves to) is the reply; a throw is an error reply
   *  {name, message, code (err.code or 'internal'), data}. */
  handler: F
}

export interface ClientEvents {
  connect: (info: { reconnected: boolean }) => void
  disconnect: (info: { code: number; reason: string }) => void
  /** Every event frame (a call without id) the host sends, e.g. broadcasts. */
  event: (name: string, args: unknown[]) => void
}

type Caller<F> = F extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never
type Head<K extends string> = K extends `${infer H}:${string}` ? H : never
type Below<F, H extends string> = { [K in keyof F & string as K extends `${H}:${infer T}` ? T : never]: F[K] }

/**
 * What typed<F>() returns: each name of F as a method (rpc.typed<F>()['demo:add']),
 * and each ':'-separated prefix as a namespace (rpc.typed<F>().demo.add).
 */
export type TypedRpc<F> = { readonly [K in keyof F & string]: Caller<F[K]> } & {
  readonly [H in Head<keyof F & string>]: TypedRpc<Below<F, H>>
}

export declare class MoonhostClient {
  constructor(options?: ConnectOptions)
  /** Resolves at the first connection; rejects (with `disconnected`) only if close() comes first. */
  readonly ready: Promise<void>
  readonly status: Status
  call<T = unknown>(name: string, ...args: unknown[]): Promise<T>
  callWith<T = unknown>(options: CallOptions, name: string, ...args: unknown[]): Promise<T>
  /** Never rejects. `reconnected`: the call was made while the connection was down (status 'reconnecting'). */
  tryCall<T = unknown>(name: string, ...args: unknown[]): Promise<TryResult<T>>
  /** Reads a stream function (`stream = true`); nothing is sent before the first next(). */
  stream<T = unknown, R = unknown>(name: string, ...args: unknown[]): RpcStream<T, R>
  streamWith<T = unknown, R = unknown>(options: StreamOptions, name: string, ...args: unknown[]): RpcStream<T, R>
  /** Fire and forget; false when the event was dropped (not connected in 'fail' mode, buffer full, too large, closed). */
  event(name: string, ...args: unknown[]): boolean
  /** Returns a function that unregisters it. Throws RpcError `rpc_method_already_registered` for a taken name. */
  register<F extends ClientHandler>(fn: ClientFunction<F>): () => void
  typed<F extends Functions = Functions>(): TypedRpc<F>
  on<E extends keyof ClientEvents>(type: E, listener: ClientEvents[E]): () => void
  /** The peer mesh: what this client announced and provides is said again after a reconnect. */
  readonly mesh: Mesh
  /** Pending and buffered calls reject with `disconnected`; resolves when the socket is closed. */
  close(): Promise<void>
}

export interface MeshPeer {
  id: string
  role: string
  capabilities: string[]
  meta: Record<string, unknown>
  provides: string[]
  host: string
}

export interface MeshIdentity {
  from: { id: string; role: string; meta: Record<string, unknown>; host: string }
  sig: string
}

/** A peer id, a role, 'role:*' (all of them), or a description every field of which must match. */
export type MeshTarget = string | { role?: string; capability?: string; meta?: Record<string, unknown> }

export interface Mesh {
  announce(info: { role: string; capabilities?: string[]; meta?: Record<string, unknown> }): Promise<{
    id: string
    host: string
    directory: MeshPeer[]
  }>
  peers(): Promise<MeshPeer[]>
  peer(target: MeshTarget): {
    call<T = unknown>(method: string, ...args: unknown[]): Promise<T>
    callWith<T = unknown>(options: CallOptions, method: string, ...args: unknown[]): Promise<T>
    event(method: string, ...args: unknown[]): Promise<number>
  }
  /** Serves `name` to make(); resolves to a function that unprovides it. */
  provide(name: string, handler: ClientHandler): Promise<() => Promise<void>>
  unprovide(name: string): Promise<void>
  make<T = unknown>(name: string, ...args: unknown[]): Promise<T>
  on(type: 'change', listener: (delta: { kind: 'added' | 'updated' | 'removed'; peer: MeshPeer }) => void): () => void
  verify(identity: MeshIdentity): Promise<{ valid: boolean }>
}

/** Throw this from a provider to let make() try the next provider. */
export declare function meshReject(message?: string): RpcError

/** Returns at once (synchronously); calls made before the socket opens are buffered. */
export declare function connect(options?: ConnectOptions): MoonhostClient
