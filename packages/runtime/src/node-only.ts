/** Whether this runs in Node (rather than a browser or a web worker). */
export function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string';
}

/**
 * Import a module that only Node can load, or a package that may be absent (tfjs-node). The
 * specifier is a parameter so that bundlers leave it alone; everything a page may load is
 * imported by literal name.
 */
export async function importNodeOnly(specifier: string): Promise<unknown> {
  return import(/* @vite-ignore */ specifier);
}
