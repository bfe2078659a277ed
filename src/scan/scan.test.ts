import type http from 'node:http';
import type net from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHECK_COOKIE } from './check.js';
import { fingerprint } from './fingerprint.js';
import type { HttpOutcome, LookupFn } from './http.js';
import { type HostResult, type ScanOptions, scanTargets } from './scan.js';
import {
  type Cert,
  candidates,
  closeAfterAll,
  type FakeExchange,
  fakeExchange,
  judge,
  makeCert,
  type Running,
  refusedPort,
  startHttp,
  startHttps,
  startTcp,
  testLookup,
} from './scan.testkit.js';
import type { Target } from './targets.js';

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

const base: ScanOptions = { judge, candidates, lookup, timeoutMs: 2000, retries: 1 };

async function scanOneTarget(t: Target, extra: Partial<ScanOptions> = {}): Promise<HostResult> {
  const [r] = await scanTargets([t], { ...base, ...extra });
  if (!r) throw new Error('no result');
  return r;
}

async function exchangeOn(f: FakeExchange, c: Cert = cert): Promise<Running> {
  return track(await startHttps(c, fakeExchange(f)));
}

const tgt = (port: number, extra: Partial<Target> = {}): Target => ({
  input: `127.0.0.1:${port}`,
  host: '127.0.0.1',
  port,
  ...extra,
});

describe('fingerprint and verdicts against a contract-following fake Exchange', () => {
  it('X-OWA-Version decides; the active check finds a vulnerable build', async () => {
    const s = await exchangeOn({ build: '15.1.2176.2', vulnerable: true });
    const r = await scanOneTarget(tgt(s.port));
    expect(r).toMatchObject({
      state: 'vulnerable',
      build: '15.1.2176.2',
      exact: true,
      method: 'x-owa-version',
      check: 'vulnerable',
      url: `https://127.0.0.1:${s.port}/`,
      judgedBuild: '15.1.2176.2',
      error: null,
    });
    expect(r.vulnerable).toContain('CVE-2021-26855');
    expect(r.verdicts).toEqual([{ build: '15.1.2176.2', affected: true }]);
    expect(r.evidence.join('\n')).toMatch(/logon page marker "function IsOwaPremiumBrowser"/);
    expect(r.evidence.join('\n')).toMatch(/resource path build 15\.1\.2176/);
    expect(r.findings).toContain('certificate is self-signed');
  });

  it('the exporttool manifest decides when the header is hidden', async () => {
    const s = await exchangeOn({ build: '15.2.792.10', hideVersionHeader: true });
    const r = await scanOneTarget(tgt(s.port));
    expect(r).toMatchObject({
      state: 'patched',
      build: '15.2.792.10',
      exact: true,
      method: 'exporttool-manifest',
      check: 'not_vulnerable',
      vulnerable: [],
    });
  });

  it('ECP build probes reach SU level from the CU in the resource path', async () => {
    const hits = new Map<string, number>();
    const s = await exchangeOn({ build: '15.1.2176.9', hideVersionHeader: true, hideManifest: true, hits });
    const r = await scanOneTarget(tgt(s.port));
    expect(r).toMatchObject({
      state: 'patched',
      build: '15.1.2176.9',
      exact: true,
      method: 'ecp-build-probe',
    });
    const probed = [...hits.keys()].filter((p) => /^\/ecp\/15\./.test(p));
    expect(probed).toEqual([
      '/ecp/15.1.2176.14/exporttool/microsoft.exchange.ediscovery.exporttool.application',
      '/ecp/15.1.2176.12/exporttool/microsoft.exchange.ediscovery.exporttool.application',
      '/ecp/15.1.2176.9/exporttool/microsoft.exchange.ediscovery.exporttool.application',
    ]);
  });

  it('stays CU-level when no candidate answers; --passive leaves it unknown', async () => {
    const s = await exchangeOn({ build: '15.1.2176.7', hideVersionHeader: true, hideManifest: true });
    const passive = await scanOneTarget(tgt(s.port), { passive: true });
    expect(passive).toMatchObject({
      state: 'unknown',
      build: '15.1.2176',
      exact: false,
      method: 'owa-resource-path',
      check: 'skipped',
      judgedBuild: '15.1.2176.2',
    });
    expect(passive.evidence.join('\n')).toMatch(/5 of 5 candidates of CU 15\.1\.2176, none answered/);
    const active = await scanOneTarget(tgt(s.port));
    expect(active).toMatchObject({ state: 'patched', check: 'not_vulnerable', exact: false });
  });

  it('a CU whose lowest build is already fixed is patched even at CU level', async () => {
    const s = await exchangeOn({ build: '15.1.2242.99', hideVersionHeader: true, hideManifest: true });
    const r = await scanOneTarget(tgt(s.port), { passive: true });
    expect(r).toMatchObject({ state: 'patched', build: '15.1.2242', exact: false, vulnerable: [] });
  });

  it('an aborted check request means shielded (request aborted)', async () => {
    const s = await exchangeOn({ build: '15.1.2176.2', shielded: true, vulnerable: true });
    const r = await scanOneTarget(tgt(s.port));
    expect(r).toMatchObject({ state: 'shielded', check: 'aborted', build: '15.1.2176.2' });
    expect(r.findings).toContain('shielded (request aborted)');
  });

  it('a TCP reset only on the check request is shielded too', async () => {
    const inner = fakeExchange({ build: '15.2.792.5', vulnerable: true });
    const s = track(
      await startHttp((req, res) => {
        if (String(req.headers.cookie ?? '').includes('X-BEResource=')) {
          (req.socket as net.Socket).resetAndDestroy();
          return;
        }
        inner(req, res);
      }),
    );
    const r = await scanOneTarget(tgt(s.port, { scheme: 'http' }));
    expect(r).toMatchObject({ state: 'shielded', check: 'aborted' });
  });

  it('--passive: an exact affected build is vulnerable without any check', async () => {
    const hits = new Map<string, number>();
    const s = await exchangeOn({ build: '15.2.792.3', vulnerable: true, hits });
    const r = await scanOneTarget(tgt(s.port), { passive: true });
    expect(r).toMatchObject({ state: 'vulnerable', check: 'skipped', build: '15.2.792.3' });
    expect(hits.has('/owa/auth/x.js')).toBe(false);
  });

  it('Exchange 2010: the 4-part resource path is exact', async () => {
    const s = await exchangeOn({ build: '14.3.509.0', hideVersionHeader: true });
    const r = await scanOneTarget(tgt(s.port), { passive: true });
    expect(r).toMatchObject({
      state: 'vulnerable',
      build: '14.3.509.0',
      exact: true,
      method: 'owa-resource-path',
      vulnerable: ['CVE-2021-26857'],
    });
  });

  it('follows an absolute same-host redirect (as real Exchange sends)', async () => {
    const inner = fakeExchange({ build: '15.1.2176.2', hideVersionHeader: true, hideManifest: true });
    let port = 0;
    const s = track(
      await startHttps(cert, (req, res) => {
        if (req.url === '/owa/') {
          res.statusCode = 302;
          res.setHeader('Location', `https://127.0.0.1:${port}/owa/auth/logon.aspx?url=x&reason=0`);
          res.end();
          return;
        }
        inner(req, res);
      }),
    );
    port = s.port;
    const r = await scanOneTarget(tgt(s.port), { passive: true, candidates: () => [] });
    expect(r).toMatchObject({ build: '15.1.2176', exact: false, method: 'owa-resource-path' });
    expect(r.evidence[0]).toMatch(/→ https:\/\/127\.0\.0\.1:\d+\/owa\/auth\/logon\.aspx/);
    expect(r.findings).toContain('CU-level build 15.1.2176 is not in the catalog');
  });

  it('not_exchange for a web server without Exchange markers', async () => {
    const s = track(await startHttps(cert, (_req, res) => res.writeHead(404).end('nope')));
    const r = await scanOneTarget(tgt(s.port));
    expect(r).toMatchObject({
      state: 'not_exchange',
      check: 'skipped',
      build: null,
      method: null,
      error: null,
    });
  });

  it('records an expired certificate as a finding', async () => {
    const s = await exchangeOn({ build: '15.1.2176.9' }, expired);
    const r = await scanOneTarget(tgt(s.port));
    expect(r.state).toBe('patched');
    expect(r.findings).toEqual(
      expect.arrayContaining(['certificate expired 2021-01-01', 'certificate is self-signed']),
    );
    expect(r.tls).toMatchObject({ subject: { CN: 'old.test' }, expired: true });
  });

  it('sends the contract cookie on the check', async () => {
    let seen = '';
    const inner = fakeExchange({ build: '15.1.2176.9' });
    const s = track(
      await startHttps(cert, (req, res) => {
        if (req.url === '/owa/auth/x.js') seen = String(req.headers.cookie);
        inner(req, res);
      }),
    );
    await scanOneTarget(tgt(s.port));
    expect(seen).toBe(CHECK_COOKIE);
  });
});

describe('fingerprint() on canned responses', () => {
  const resp = (status: number, headers: Record<string, string>, body = ''): HttpOutcome => ({
    kind: 'response',
    status,
    headers,
    body,
    truncated: false,
    tls: null,
    ms: 1,
  });
  it('trusts an exact X-OWA-Version without asking for the manifest', async () => {
    const get = async (p: string): Promise<HttpOutcome> => {
      if (p === '/owa/') return resp(200, { 'x-owa-version': '15.01.2176.009' }, '<title>Outlook</title>');
      if (p.startsWith('/ecp/Current/'))
        return resp(
          200,
          {},
          '<assemblyIdentity version="15.1.2176.2" name="microsoft.exchange.ediscovery.exporttool.application" />',
        );
      return resp(404, {});
    };
    const asked: string[] = [];
    const f = await fingerprint((p) => {
      asked.push(p);
      return get(p);
    });
    expect(f).toMatchObject({ exchange: true, build: '15.1.2176.9', exact: true, method: 'x-owa-version' });
    expect(asked.some((p) => p.startsWith('/ecp/'))).toBe(false);
    expect(f.evidence.join('\n')).toMatch(/not requested: X-OWA-Version gave the exact build/);
  });
  it('ignores a catch-all 200 that is not the manifest of the candidate', async () => {
    const get = async (p: string): Promise<HttpOutcome> => {
      if (p === '/owa/') return resp(200, {}, '<link href="/owa/auth/15.1.2176/themes/x.css">');
      if (p.startsWith('/ecp/15.')) return resp(200, { 'content-type': 'text/html' }, '<html>hi</html>');
      return resp(404, {});
    };
    const f = await fingerprint(get, { candidates });
    expect(f).toMatchObject({ exchange: true, build: '15.1.2176', exact: false });
  });
});

describe('bad targets: each an error state, never a crash or a hang', () => {
  it('refused port, .invalid name, garbage, TLS failure, endless body, slow drip — all in one scan', async () => {
    const refused = await refusedPort();
    const garbage = track(
      await startTcp((sock) => {
        sock.on('data', () => sock.end('\u0016\u0003garbage-not-http\r\n\r\n'));
      }),
    );
    const tlsFail = track(
      await startTcp((sock) => {
        sock.once('data', () => sock.resetAndDestroy());
      }),
    );
    const endless = track(
      await startHttp((_req, res) => {
        const chunk = Buffer.alloc(16 * 1024, 'x');
        res.on('error', () => {});
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) {
            /* fill */
          }
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      }),
    );
    const drip = track(
      await startTcp((sock) => {
        const msg = 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789';
        let i = 0;
        const t = setInterval(() => {
          if (sock.destroyed || i >= msg.length) return clearInterval(t);
          sock.write(msg[i++] ?? '');
        }, 1000);
        sock.on('close', () => clearInterval(t));
        sock.on('error', () => {});
      }),
    );
    const targets: Target[] = [
      tgt(refused),
      { input: 'exchange.contoso.invalid', host: 'exchange.contoso.invalid' },
      tgt(garbage.port),
      { input: `https://127.0.0.1:${tlsFail.port}`, host: '127.0.0.1', port: tlsFail.port, scheme: 'https' },
      { input: `http://127.0.0.1:${endless.port}`, host: '127.0.0.1', port: endless.port, scheme: 'http' },
      { input: `http://127.0.0.1:${drip.port}`, host: '127.0.0.1', port: drip.port, scheme: 'http' },
    ];
    const streamed: string[] = [];
    const t0 = Date.now();
    const results = await scanTargets(targets, {
      ...base,
      timeoutMs: 1500,
      onResult: (r) => streamed.push(r.target),
    });
    expect(Date.now() - t0).toBeLessThan(6000);
    expect(streamed.sort()).toEqual(targets.map((t) => t.input).sort());
    expect(results.map((r) => r.state)).toEqual(['error', 'error', 'error', 'error', 'error', 'error']);
    const [rRefused, rInvalid, rGarbage, rTls, rEndless, rDrip] = results;
    expect(rRefused?.error).toMatch(
      /^https:\/\/127\.0\.0\.1:\d+: ECONNREFUSED.*; http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/,
    );
    expect(rInvalid?.error).toMatch(/^https:\/\/exchange\.contoso\.invalid:443: ENOTFOUND/);
    expect(rInvalid?.error).not.toMatch(/http:\/\//);
    expect(rGarbage?.error).toMatch(/TLS: .*; http:.*PROTOCOL/);
    expect(rTls?.error).toMatch(/TLS/);
    expect(rEndless?.error).toMatch(/larger than 262144 bytes/);
    expect(rDrip?.error).toMatch(/ETIMEDOUT/);
    for (const r of results) expect(r.ms).toBeLessThan(5000);
  });

  it('falls back to HTTP when the HTTPS port speaks plain HTTP', async () => {
    const s = track(await startHttp(fakeExchange({ build: '15.1.2176.2', vulnerable: true })));
    const r = await scanOneTarget(tgt(s.port));
    expect(r).toMatchObject({ state: 'vulnerable', url: `http://127.0.0.1:${s.port}/`, tls: null });
    expect(r.findings[0]).toMatch(
      /^answered only on http:\/\/127\.0\.0\.1:\d+ \(https:\/\/127\.0\.0\.1:\d+: TLS/,
    );
  });

  it('retries a connect timeout a bounded number of times', async () => {
    let calls = 0;
    const slowLookup: LookupFn = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 400));
      return [{ address: '127.0.0.1', family: 4 }];
    };
    const r = await scanOneTarget(
      { input: 'slow.test', host: 'slow.test', scheme: 'http', port: 9 },
      { lookup: slowLookup, timeoutMs: 2000, connectTimeoutMs: 200, retries: 2 },
    );
    expect(r.state).toBe('error');
    expect(r.error).toMatch(/ETIMEDOUT: connect timed out/);
    expect(calls).toBe(3);
  });
});

describe('operational limits', () => {
  function counting(delayMs: number) {
    const c = { active: 0, max: 0, total: 0 };
    const handler: http.RequestListener = (_req, res) => {
      setTimeout(() => res.writeHead(404).end('no'), delayMs);
    };
    const onConn = (sock: net.Socket) => {
      c.active++;
      c.total++;
      c.max = Math.max(c.max, c.active);
      sock.on('close', () => c.active--);
    };
    return { c, handler, onConn };
  }

  it('respects the global concurrency limit across hosts and streams results', async () => {
    const { c, handler, onConn } = counting(100);
    const targets: Target[] = [];
    for (let i = 1; i <= 8; i++) {
      const host = `127.0.0.${i}`;
      const s = track(await startHttp(handler, host, onConn));
      targets.push({ input: `http://${host}:${s.port}`, host, port: s.port, scheme: 'http' });
    }
    const order: string[] = [];
    const results = await scanTargets(targets, {
      ...base,
      concurrency: 3,
      passive: true,
      onResult: (r) => order.push(r.target),
    });
    expect(results.map((r) => r.target)).toEqual(targets.map((t) => t.input));
    expect(results.every((r) => r.state === 'not_exchange')).toBe(true);
    expect(order).toHaveLength(8);
    expect(c.total).toBe(16); // /owa/ and the direct logon page, per host
    expect(c.max).toBeLessThanOrEqual(3);
    expect(c.max).toBeGreaterThanOrEqual(2);
  });

  it('respects the per-host limit', async () => {
    const { c, handler, onConn } = counting(100);
    const s = track(await startHttp(handler, '127.0.0.1', onConn));
    const t: Target = {
      input: `http://127.0.0.1:${s.port}`,
      host: '127.0.0.1',
      port: s.port,
      scheme: 'http',
    };
    const results = await scanTargets([t, t, t, t, t, t], {
      ...base,
      concurrency: 6,
      perHost: 2,
      passive: true,
    });
    expect(results).toHaveLength(6);
    expect(c.max).toBe(2);
  });
});
