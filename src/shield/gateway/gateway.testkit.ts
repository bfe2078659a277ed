/** Test helpers for the gateway: raw HTTP/1 backends and clients on 127.0.0.1. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { createRequestParser, type RequestHead } from '../http1/index.js';
import { createResponseParser, type ResponseHead } from './response.js';

export const PACK = path.resolve('src/advisories/packs/proxylogon-2021-03/shield');
export const EOMT = path.join(PACK, 'eomt.conf');
export const STRICT = path.join(PACK, 'strict.conf');
export const C27065 = path.join(PACK, 'cve-2021-27065.conf');

export function tmpDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'bulwark-gw-'));
}

export function writeTmp(dir: string, name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

export interface BackendRequest {
  head: RequestHead;
  body: Buffer;
  remotePort: number;
}

export interface RawBackendHooks {
  /** Answer a complete request (default: 200 "ok" with Content-Length). Return true when it answered itself. */
  onRequest?: (r: BackendRequest, sock: net.Socket) => boolean | undefined;
  /** Streamed: called for every head before the body (for RPC streams). Return true to take over. */
  onHead?: (head: RequestHead, sock: net.Socket) => boolean | undefined;
  onBody?: (data: Buffer, sock: net.Socket) => void;
  /** Keep bodies in `requests` (default true). */
  collect?: boolean;
  tls?: { key: string; cert: string };
}

export interface RawBackend {
  port: number;
  requests: BackendRequest[];
  connections: number;
  close(): Promise<void>;
}

/** A backend on our own request parser (node:http refuses RPC_IN_DATA). Serves pipelined requests in order. */
export async function startRawBackend(hooks: RawBackendHooks = {}): Promise<RawBackend> {
  const sockets = new Set<net.Socket>();
  const be: RawBackend = {
    port: 0,
    requests: [],
    connections: 0,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const onConn = (sock: net.Socket) => {
    be.connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    const p = createRequestParser({ maxHeaderBytes: 256 * 1024 });
    let head: RequestHead | undefined;
    let parts: Buffer[] = [];
    let streaming = false;
    sock.on('data', (d: Buffer) => {
      for (const ev of p.push(d)) {
        if (ev.type === 'head') {
          head = ev.request;
          parts = [];
          streaming = !!hooks.onHead?.(head, sock);
        } else if (ev.type === 'body') {
          if (streaming) hooks.onBody?.(ev.data, sock);
          else if (hooks.collect !== false) parts.push(Buffer.from(ev.data));
        } else if (ev.type === 'end' && head) {
          const r: BackendRequest = { head, body: Buffer.concat(parts), remotePort: sock.remotePort ?? 0 };
          be.requests.push(r);
          if (streaming) continue;
          if (!hooks.onRequest?.(r, sock)) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        } else if (ev.type === 'tunnel') {
          hooks.onBody?.(ev.data, sock);
        } else if (ev.type === 'error') {
          sock.end(`HTTP/1.1 ${ev.status} Bad\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        }
      }
    });
  };
  const server = hooks.tls
    ? tls.createServer({ key: hooks.tls.key, cert: hooks.tls.cert }, onConn)
    : net.createServer(onConn);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  be.port = (server.address() as net.AddressInfo).port;
  return be;
}

export interface ClientResponse {
  head: ResponseHead;
  body: Buffer;
  interim: ResponseHead[];
}

/** A client connection that sends one request at a time and reads its response with the strict framer. */
export class TestClient {
  private buf: Buffer[] = [];
  private waiter: (() => void) | undefined;
  closed = false;

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf.push(d);
      this.waiter?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    sock.on('error', () => {});
  }

  static async connect(
    port: number,
    opts: { tls?: boolean; servername?: string; ca?: string } = {},
  ): Promise<TestClient> {
    const sock = opts.tls
      ? tls.connect({
          host: '127.0.0.1',
          port,
          servername: opts.servername,
          rejectUnauthorized: false,
        })
      : net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      sock.once(opts.tls ? 'secureConnect' : 'connect', () => resolve());
      sock.once('error', reject);
    });
    return new TestClient(sock);
  }

  write(data: string | Buffer) {
    this.sock.write(data);
  }

  /** Read one response to a request with `method`; rejects when the connection closes first. */
  async response(method = 'GET', timeoutMs = 10_000): Promise<ClientResponse> {
    const p = createResponseParser(method);
    const interim: ResponseHead[] = [];
    let head: ResponseHead | undefined;
    const body: Buffer[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.buf.length > 0) {
        const chunk = this.buf.shift()!;
        const evs = p.push(chunk);
        for (let i = 0; i < evs.length; i++) {
          const ev = evs[i]!;
          if (ev.type === 'info') interim.push(ev.head);
          else if (ev.type === 'head') {
            head = ev.head;
            if (head.status === 101) {
              const rest = evs.slice(i + 1).filter((e) => e.type === 'tunnel');
              for (const t of rest.reverse()) if (t.type === 'tunnel') this.buf.unshift(Buffer.from(t.data));
              return { head, body: Buffer.alloc(0), interim };
            }
          } else if (ev.type === 'body') body.push(Buffer.from(ev.data));
          else if (ev.type === 'end') return { head: head!, body: Buffer.concat(body), interim };
          else if (ev.type === 'error') throw new Error(`response: ${ev.reason}`);
        }
      }
      if (this.closed) {
        for (const ev of p.finish())
          if (ev.type === 'end' && head) return { head, body: Buffer.concat(body), interim };
        throw new Error('connection closed before a complete response');
      }
      if (Date.now() > deadline) throw new Error('response timeout');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  /** Raw bytes received until the connection closes (or the timeout). */
  async untilClose(timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return Buffer.concat(this.buf);
  }

  close() {
    this.sock.destroy();
  }
}

/** One request on a fresh connection. */
export async function fetchRaw(
  port: number,
  raw: string | Buffer,
  method = 'GET',
  opts: { tls?: boolean; servername?: string } = {},
): Promise<ClientResponse> {
  const c = await TestClient.connect(port, opts);
  try {
    c.write(raw);
    return await c.response(method);
  } finally {
    c.close();
  }
}

export function header(h: ResponseHead | RequestHead, name: string): string | undefined {
  return h.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}
