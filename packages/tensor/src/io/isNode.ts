/** True in Node (and runtimes that mimic it, such as Bun and Deno's Node mode), where the file system is reachable. */
export function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}
