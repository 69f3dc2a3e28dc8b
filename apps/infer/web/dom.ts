import { InferError } from '../src/core/errors.js';

/** The page's element `#id`; a page without it is a build error, reported as one. */
export function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new InferError('bad-page', `element: the page must have #${id}, got none`);
  return found as T;
}
