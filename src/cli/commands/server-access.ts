/**
 * How a command reaches a Bulwark server: the URL from its option and the API token from BULWARK_TOKEN or a
 * token file — never from the command line, so it stays out of `ps` and shell history.
 */
import { readFileSync } from 'node:fs';
import type { ApiClientOptions, PushOptions } from '../../api/index.js';
import { escapeControls } from '../../core/index.js';
import { type Io, UsageError } from '../io.js';

export interface ServerAccessOptions {
  /** The server URL as given. */
  url: string;
  /** File holding the API token (else BULWARK_TOKEN). */
  tokenFile?: string;
  /** The option that named the server, for messages: `--server`. */
  flag: string;
}

export function serverClient(io: Io, opts: ServerAccessOptions): ApiClientOptions {
  let token = io.env.BULWARK_TOKEN;
  if (opts.tokenFile) {
    try {
      token = readFileSync(opts.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new UsageError(
        `--token-file ${escapeControls(opts.tokenFile)}: cannot read (${(err as NodeJS.ErrnoException).code})`,
      );
    }
  }
  if (!token)
    throw new UsageError(`${opts.flag} needs an API token: set BULWARK_TOKEN or give --token-file FILE`);
  try {
    const u = new URL(opts.url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new UsageError(
      `${opts.flag}: "${escapeControls(opts.url)}" is not an http(s) URL of a Bulwark server, e.g. http://127.0.0.1:8440`,
    );
  }
  return { baseUrl: opts.url, token };
}

/**
 * Checks, before any work, that the server takes pushes to `tenant` from this token (see checkPushAccess). A bad
 * token or an unreachable server is a UsageError at once; a refused tenant is returned as a message to collect.
 */
export async function pushRefusal(
  client: ApiClientOptions,
  tenant: string,
  push: PushOptions,
  /** The option that named the server (`--push`) and, optionally, where the tenant was named. */
  said: { flag: string; where?: string },
): Promise<string | undefined> {
  const { flag, where } = said;
  const { ApiClientError, checkPushAccess } = await import('../../api/index.js');
  try {
    await checkPushAccess(client, tenant, push);
    return undefined;
  } catch (err) {
    if (!(err instanceof ApiClientError)) throw err;
    // A bad token or an unreachable server is the same answer for every tenant: said once.
    if (err.status === undefined || err.status === 401) throw new UsageError(`${flag}: ${err.message}`);
    return `${flag}: tenant ${tenant}${where ? ` (${where})` : ''}: ${err.message}`;
  }
}

/** Checks that the server knows the advisory a push names; a UsageError naming it otherwise. */
export async function requireServerAdvisory(
  client: ApiClientOptions,
  id: string,
  flag: string,
): Promise<void> {
  const { ApiClientError, apiRequest } = await import('../../api/index.js');
  try {
    await apiRequest(client, 'GET', `api/v1/advisories/${encodeURIComponent(id)}`);
  } catch (err) {
    if (!(err instanceof ApiClientError)) throw err;
    if (err.status === 404)
      throw new UsageError(
        `${flag}: the server has no advisory ${escapeControls(id)}; import it there first (bulwark advisories import FILE --server URL)`,
      );
    throw new UsageError(`${flag}: ${err.message}`);
  }
}
