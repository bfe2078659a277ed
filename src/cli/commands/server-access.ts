/**
 * How a command reaches a Bulwark server: the URL from its option and the API token from BULWARK_TOKEN or a
 * token file — never from the command line, so it stays out of `ps` and shell history.
 */
import { readFileSync } from 'node:fs';
import type { ApiClientOptions } from '../../api/index.js';
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
