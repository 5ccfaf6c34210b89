/** Sets an own data property, so a key such as `__proto__` read from a file stays an ordinary key. */
export function setOwn(target: Record<string, string>, key: string, value: string): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
