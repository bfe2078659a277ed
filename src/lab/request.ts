/**
 * A minimal loopback-only HTTP(S) client for lab tests: one request per connection, certificate not verified
 * (the lab certificate is self-signed), and it refuses any host outside 127.0.0.0/8 and ::1.
 */
import http from 'node:http';
import https from 'node:https';
import { isLoopback } from '../core/index.js';

export interface LabResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface LabRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** Resolves with the response, or rejects with the socket error (e.g. `socket hang up` / ECONNRESET). */
export function labRequest(
  baseUrl: string,
  path: string,
  opts: LabRequestOptions = {},
): Promise<LabResponse> {
  const url = new URL(baseUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!isLoopback(host)) return Promise.reject(new Error(`labRequest: ${host} is not a loopback address`));
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      {
        host,
        port: url.port,
        method: opts.method ?? 'GET',
        path,
        headers: opts.headers,
        agent: false,
        rejectUnauthorized: false,
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('labRequest: timed out')));
    req.on('error', reject);
    req.end();
  });
}
