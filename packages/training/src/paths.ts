/**
 * Path arithmetic without `node:path`, for the `/`-separated paths a `FileStore` takes (Node
 * accepts them on every platform): join parts with one `/` between them.
 */
export function joinPath(...parts: readonly string[]): string {
  return parts
    .filter((part) => part !== '')
    .map((part, i) => (i === 0 ? part.replace(/\/+$/, '') || '/' : part.replace(/^\/+|\/+$/g, '')))
    .join('/')
    .replace(/^\/\//, '/');
}

/** The lower-case extension of a file name, with its dot (`'.png'`), or `''` when it has none. */
export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot).toLowerCase();
}
