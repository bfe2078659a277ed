/**
 * Client-side routing on the history API: every console page has its own URL (path and query), which can be
 * reloaded, bookmarked and shared; the server answers index.html for all of them.
 */
import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from 'react';

const CHANGE = 'bulwark:navigate';

let navigated = false;
/** True once the user went from one console page to another without a page load (links, back, forward). */
export const hasNavigated = () => navigated;

window.addEventListener('popstate', () => {
  navigated = true;
});

function subscribe(listener: () => void): () => void {
  window.addEventListener('popstate', listener);
  window.addEventListener(CHANGE, listener);
  return () => {
    window.removeEventListener('popstate', listener);
    window.removeEventListener(CHANGE, listener);
  };
}

const snapshot = () => window.location.pathname + window.location.search;

/** The current path with its query, e.g. `/advisories?q=exchange`. Re-renders on every navigation. */
export function useLocation(): { path: string; query: URLSearchParams; href: string } {
  const href = useSyncExternalStore(subscribe, snapshot);
  const url = new URL(href, window.location.origin);
  return { path: url.pathname, query: url.searchParams, href };
}

/** Goes to a console URL (same origin only; anything else is refused and goes home). */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const target = sameOriginPath(to) ?? '/';
  if (target === snapshot()) return;
  navigated = true;
  if (options.replace) window.history.replaceState(null, '', target);
  else window.history.pushState(null, '', target);
  window.dispatchEvent(new Event(CHANGE));
}

/** `to` as a path on this origin, or undefined for another origin or a protocol-relative URL. */
export function sameOriginPath(to: string): string | undefined {
  if (!to.startsWith('/') || to.startsWith('//') || to.startsWith('/\\')) return undefined;
  const url = new URL(to, window.location.origin);
  if (url.origin !== window.location.origin) return undefined;
  return url.pathname + url.search;
}

/** A link that navigates without reloading; modified clicks (new tab, new window) keep the browser's behaviour. */
export function Link({ to, onClick, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handle} {...rest} />;
}

export { matchPath } from '../api/console-requests.js';

/** A console path built from segments, each encoded: `pathOf('tenants', id)` → `/tenants/<id>`. */
export function pathOf(...segments: string[]): string {
  return `/${segments.map(encodeURIComponent).join('/')}`;
}
