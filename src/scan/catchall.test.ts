/**
 * Issue 10 ("the rest of the review", scan): a server that answers every path with the OWA logon page and 200
 * must not read `patched` — with no build the scan has no positive evidence, and the x.js check answered by a
 * catch-all page proves nothing. Real servers on 127.0.0.1.
 */
import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import { proxyLogonCheck } from './check.js';
import type { HttpOutcome } from './http.js';
import { type HostResult, type ScanOptions, scanTargets } from './scan.js';
import { candidates, closeAfterAll, judge, startHttp, testLookup } from './scan.testkit.js';

const track = closeAfterAll();
const base: ScanOptions = { judge, candidates, lookup: testLookup, timeoutMs: 2000, retries: 0 };

const LOGON_PAGE = (resources: string) =>
  `<!DOCTYPE html><html><head><title>Outlook</title><!-- OwaPage = ASP.auth_logon_aspx -->
${resources ? `<link type="text/css" rel="stylesheet" href="${resources}/logon.css">` : ''}
<script>function IsOwaPremiumBrowser(){return true;}</script></head>
<body><noscript>To use Outlook, browser settings must allow scripts to run.</noscript></body></html>`;

/** Every path, every method: 200 and the same OWA page (a portal, a honeypot, a misconfigured proxy). */
function catchAll(page: string): http.RequestListener {
  return (_req, res) => {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(page);
  };
}

async function scanHttp(
  handler: http.RequestListener,
  extra: Partial<ScanOptions> = {},
): Promise<HostResult> {
  const s = track(await startHttp(handler));
  const [r] = await scanTargets(
    [{ input: `http://127.0.0.1:${s.port}`, host: '127.0.0.1', port: s.port, scheme: 'http' }],
    { ...base, ...extra },
  );
  return r!;
}

describe('catch-all servers', () => {
  it('the OWA page for every path, no build: unknown with the reason, never patched', async () => {
    const r = await scanHttp(catchAll(LOGON_PAGE('')));
    expect(r).toMatchObject({ state: 'unknown', build: null, check: 'inconclusive', vulnerable: [] });
    expect(r.findings.join('\n')).toMatch(/no build found.*catch-all/);
    expect(r.evidence.join('\n')).toMatch(/x\.js with routing cookies: 200, the OWA logon page/);
  });

  it('the OWA page for every path with a CU resource path that does not decide: unknown, not patched', async () => {
    const r = await scanHttp(catchAll(LOGON_PAGE('/owa/auth/15.1.2176/themes/resources')));
    expect(r).toMatchObject({ state: 'unknown', build: '15.1.2176', exact: false, check: 'inconclusive' });
    expect(r.findings.join('\n')).toMatch(/build 15\.1\.2176 does not decide.*catch-all/);
  });

  it('Exchange markers without a build and a plain 404 for the check: unknown, the negative alone proves no patch', async () => {
    const r = await scanHttp((req, res) => {
      if ((req.url ?? '').startsWith('/owa/auth/x.js')) {
        res.statusCode = 404;
        res.end('not found');
        return;
      }
      res.end(LOGON_PAGE(''));
    });
    expect(r).toMatchObject({ state: 'unknown', build: null, check: 'not_vulnerable' });
    expect(r.findings.join('\n')).toMatch(/no build found; the active check found no SSRF/);
  });

  it('the check itself: 2xx or the logon page is inconclusive, a 404 or 500 without the header is negative', async () => {
    const answer =
      (status: number, body = '', headers: Record<string, string> = {}) =>
      async (): Promise<HttpOutcome> => ({
        kind: 'response',
        status,
        headers,
        body,
        truncated: false,
        tls: null,
        ms: 1,
      });
    expect((await proxyLogonCheck(answer(200))).verdict).toBe('inconclusive');
    expect((await proxyLogonCheck(answer(204))).verdict).toBe('inconclusive');
    expect((await proxyLogonCheck(answer(403, LOGON_PAGE('')))).verdict).toBe('inconclusive');
    expect((await proxyLogonCheck(answer(404))).verdict).toBe('not_vulnerable');
    expect((await proxyLogonCheck(answer(500))).verdict).toBe('not_vulnerable');
    expect(
      (await proxyLogonCheck(answer(200, LOGON_PAGE(''), { 'x-calculatedbetarget': 'localhost' }))).verdict,
    ).toBe('vulnerable');
  });
});
