import { beforeAll, describe, expect, it } from 'vitest';
import { httpRequest } from './http.js';
import {
  type Cert,
  closeAfterAll,
  makeCert,
  type Running,
  refusedPort,
  startHttp,
  startHttps,
  startTcp,
  testLookup,
} from './scan.testkit.js';

const track = closeAfterAll();

const lookup = testLookup;

let cert: Cert;
let expired: Cert;
beforeAll(async () => {
  cert = await makeCert({ cn: 'exch-lab.test' });
  expired = await makeCert({
    cn: 'old.test',
    notBefore: new Date('2019-01-01T00:00:00Z'),
    notAfter: new Date('2021-01-01T00:00:00Z'),
  });
});

describe('httpRequest', () => {
  it('returns status, lower-cased headers and body', async () => {
    const s = track(
      await startHttp((_req, res) => {
        res.setHeader('X-OWA-Version', '15.1.2176.2');
        res.end('hello');
      }),
    );
    const o = await httpRequest({ scheme: 'http', host: 'mail.test', port: s.port }, { path: '/', lookup });
    expect(o).toMatchObject({ kind: 'response', status: 200, body: 'hello', truncated: false, tls: null });
    if (o.kind === 'response') expect(o.headers['x-owa-version']).toBe('15.1.2176.2');
  });

  it('fails .invalid names locally and never calls lookup', async () => {
    let called = 0;
    const o = await httpRequest(
      { scheme: 'https', host: 'exchange.contoso.invalid', port: 443 },
      {
        path: '/',
        lookup: async () => {
          called++;
          return [];
        },
      },
    );
    expect(o).toMatchObject({ kind: 'error', code: 'ENOTFOUND' });
    expect(called).toBe(0);
  });

  it('maps lookup failures to ENOTFOUND', async () => {
    const o = await httpRequest({ scheme: 'http', host: 'nothing.example', port: 80 }, { path: '/', lookup });
    expect(o).toMatchObject({ kind: 'error', code: 'ENOTFOUND', phase: 'dns' });
  });

  it('reports refused connections', async () => {
    const port = await refusedPort();
    const o = await httpRequest({ scheme: 'http', host: '127.0.0.1', port }, { path: '/' });
    expect(o).toMatchObject({ kind: 'error', code: 'ECONNREFUSED' });
  });

  it('reports garbage bytes as a protocol error', async () => {
    const s = track(
      await startTcp((sock) => {
        sock.once('data', () => sock.end('SSH-2.0-OpenSSH_9.6\r\n\u0000\u0001garbage\r\n\r\n'));
      }),
    );
    const o = await httpRequest({ scheme: 'http', host: '127.0.0.1', port: s.port }, { path: '/' });
    expect(o).toMatchObject({ kind: 'error', code: 'PROTOCOL' });
  });

  it('caps an endless body and does not hang', async () => {
    const s = track(
      await startHttp((_req, res) => {
        const chunk = Buffer.alloc(16 * 1024, 'a');
        const pump = () => {
          while (res.write(chunk)) {
            /* keep writing */
          }
          res.once('drain', pump);
        };
        res.on('error', () => {});
        pump();
      }),
    );
    const t0 = Date.now();
    const o = await httpRequest(
      { scheme: 'http', host: '127.0.0.1', port: s.port },
      { path: '/', maxBodyBytes: 100_000, timeoutMs: 5000 },
    );
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(o).toMatchObject({ kind: 'response', status: 200, truncated: true });
    if (o.kind === 'response') expect(o.body.length).toBe(100_000);
  });

  it('hits the total deadline on a slow drip (1 byte/s)', async () => {
    const s = track(
      await startTcp((sock) => {
        const msg = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';
        let i = 0;
        const t = setInterval(() => {
          if (sock.destroyed || i >= msg.length) return clearInterval(t);
          sock.write(msg[i++] ?? '');
        }, 1000);
        sock.on('close', () => clearInterval(t));
      }),
    );
    const t0 = Date.now();
    const o = await httpRequest(
      { scheme: 'http', host: '127.0.0.1', port: s.port },
      { path: '/', timeoutMs: 1500 },
    );
    expect(o).toMatchObject({ kind: 'error', code: 'ETIMEDOUT' });
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('times out a silent server', async () => {
    const s = track(await startTcp(() => {}));
    const o = await httpRequest(
      { scheme: 'http', host: '127.0.0.1', port: s.port },
      { path: '/', timeoutMs: 500 },
    );
    expect(o).toMatchObject({ kind: 'error', code: 'ETIMEDOUT', phase: 'response' });
  });

  it('distinguishes an aborted request (closed after the request, no bytes)', async () => {
    const s = track(
      await startTcp((sock) => {
        sock.once('data', () => sock.destroy());
      }),
    );
    const o = await httpRequest({ scheme: 'http', host: '127.0.0.1', port: s.port }, { path: '/' });
    expect(o.kind).toBe('aborted');
  });

  it('treats a reset during the TLS handshake as a TLS error', async () => {
    const s = track(
      await startTcp((sock) => {
        sock.once('data', () => sock.resetAndDestroy());
      }),
    );
    const o = await httpRequest({ scheme: 'https', host: '127.0.0.1', port: s.port }, { path: '/' });
    expect(o).toMatchObject({ kind: 'error', code: 'TLS' });
  });

  it('treats plain HTTP on an https port as a TLS error', async () => {
    const s = track(await startHttp((_req, res) => res.end('plain')));
    const o = await httpRequest({ scheme: 'https', host: '127.0.0.1', port: s.port }, { path: '/' });
    expect(o).toMatchObject({ kind: 'error', code: 'TLS' });
  });

  it('accepts a self-signed certificate and records it, with SNI from the name', async () => {
    let sni: string | undefined;
    const s = track(
      await startHttps(cert, (req, res) => {
        sni = (req.socket as import('node:tls').TLSSocket).servername || undefined;
        res.end(req.headers.host);
      }),
    );
    const o = await httpRequest(
      { scheme: 'https', host: '127.0.0.1', port: s.port, sni: 'exch-lab.test' },
      { path: '/', now: new Date() },
    );
    expect(o.kind).toBe('response');
    if (o.kind !== 'response') return;
    expect(sni).toBe('exch-lab.test');
    expect(o.body).toBe(`exch-lab.test:${s.port}`);
    expect(o.tls).toMatchObject({
      subject: { CN: 'exch-lab.test' },
      issuer: { CN: 'exch-lab.test' },
      selfSigned: true,
      expired: false,
      nameMismatch: null,
    });
    expect(o.tls?.fingerprint256).toMatch(/^[0-9A-F:]+$/);
  });

  it('sends no SNI for IP literals and flags an expired certificate', async () => {
    let sni: string | false | null | undefined;
    const s = track(
      await startHttps(expired, (req, res) => {
        sni = (req.socket as import('node:tls').TLSSocket).servername;
        res.end('ok');
      }),
    );
    const o = await httpRequest({ scheme: 'https', host: '127.0.0.1', port: s.port }, { path: '/' });
    expect(o.kind).toBe('response');
    expect(sni).toBeFalsy();
    expect(o.tls).toMatchObject({ expired: true, selfSigned: true, validTo: '2021-01-01T00:00:00.000Z' });
  });
});

describe('IPv6 loopback', () => {
  it('talks to [::1] with a bracketed Host header', async () => {
    let s: Running;
    try {
      s = track(await startHttp((req, res) => res.end(req.headers.host), '::1'));
    } catch {
      return; // no IPv6 loopback on this machine
    }
    const o = await httpRequest({ scheme: 'http', host: '::1', port: s.port }, { path: '/' });
    expect(o).toMatchObject({ kind: 'response', body: `[::1]:${s.port}` });
  });
});
