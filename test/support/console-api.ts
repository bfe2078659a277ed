/**
 * The API as the browser tests call it from outside the page: JSON over real HTTP on 127.0.0.1 with a session
 * cookie and its CSRF token, the way the console itself calls it.
 */
import type { ConsoleServer } from './console-server.js';

/** A signed-in API user: its cookie header (for fetch), the bare session value (for the browser) and CSRF token. */
export interface ApiUser {
  cookie: string;
  session: string;
  csrf: string;
}

/** One call; anything but 2xx throws with the server's answer. */
export async function callApi<T>(
  s: ConsoleServer,
  who: ApiUser | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (who) {
    headers.cookie = who.cookie;
    headers['x-csrf-token'] = who.csrf;
  }
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(s.url + path, {
    method,
    headers,
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

export async function signInApi(s: ConsoleServer, email: string, password: string): Promise<ApiUser> {
  const res = await fetch(`${s.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
    signal: AbortSignal.timeout(20_000),
  });
  if (res.status !== 200) throw new Error(`sign-in of ${email}: ${res.status} ${await res.text()}`);
  const session = /bulwark_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  if (!session) throw new Error('sign-in set no session cookie');
  const { csrf_token } = (await res.json()) as { csrf_token: string };
  return { cookie: `bulwark_session=${session}`, session, csrf: csrf_token };
}
