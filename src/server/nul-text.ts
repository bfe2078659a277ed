/**
 * Text with a NUL character (U+0000) is refused at the door: PostgreSQL cannot store it in a text column, so it
 * would otherwise fail deep in a write as a 500 on one database and be stored on the other. The answer is one 400
 * naming the field (`body.assets[0].name`, `querystring.q`).
 */
import { badRequest } from './errors.js';

/** Nodes visited at most: request bodies are bounded, this only bounds the walk itself. */
const MAX_NODES = 2_000_000;

/** The path of the first string (or key) holding U+0000, or undefined. */
export function nulPath(value: unknown, root: string): string | undefined {
  const stack: [unknown, string][] = [[value, root]];
  let visited = 0;
  while (stack.length) {
    const [node, path] = stack.pop()!;
    if (++visited > MAX_NODES) return undefined;
    if (typeof node === 'string') {
      if (node.includes('\u0000')) return path;
    } else if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push([node[i], `${path}[${i}]`]);
    } else if (node !== null && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) {
        if (key.includes('\u0000')) return path;
        stack.push([child, `${path}.${key}`]);
      }
    }
  }
  return undefined;
}

/** Throws 400 naming the field when the body or the query string holds U+0000. */
export function refuseNulText(request: { body?: unknown; query?: unknown }): void {
  const at = nulPath(request.query, 'querystring') ?? nulPath(request.body, 'body');
  if (at) throw badRequest(`${at}: text must not contain the NUL character (\\u0000)`);
}
