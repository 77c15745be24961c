// `virtual:moonhost` in a page: add "vite-plugin-moonhost/virtual" to tsconfig's compilerOptions.types.
declare module 'virtual:moonhost' {
  import type { MoonhostClient } from 'vite-plugin-moonhost/client'
  export * from 'vite-plugin-moonhost/client'
  /** Connected to /__ws on the page's origin (the plugin's proxy passes it on to moonhost). */
  export const rpc: MoonhostClient
  /** The token the client presents, or undefined when the plugin left it out (tokenInPage). */
  export const token: string | undefined
  export default rpc
}
