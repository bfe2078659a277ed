import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitCsv } from '../hunt/parse/index.js';
import { type ExchangeEmulator, LabConfigError, startExchangeEmulator } from './exchange.js';
import { HTTPPROXY_FIELDS } from './logs.js';
import { labRequest } from './request.js';

/** Stub of the exposure engine: CVE-2021-26855-affected builds among those the tests use. */
const AFFECTED = new Set(['15.1.2176.2', '15.1.2176.4', '15.0.1497.2', '15.2.792.3']);
const isVulnerable = (b: string): boolean => AFFECTED.has(b);

const CHECK_COOKIE =
  'X-AnonResource=true; X-AnonResource-Backend=localhost/ecp/default.flt?~3; X-BEResource=localhost/owa/auth/logon.aspx?~3;';
const MANIFEST = '/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application';
const manifestFor = (x: string): string =>
  `/ecp/${x}/exporttool/microsoft.exchange.ediscovery.exporttool.application`;

function expectCommonHeaders(headers: Record<string, unknown>, name = 'EXCH-LAB'): void {
  expect(headers.server).toBe('Microsoft-IIS/10.0');
  expect(headers['x-powered-by']).toBe('ASP.NET');
  expect(headers['x-feserver']).toBe(name);
  expect(headers['x-bulwark-lab']).toBe('emulator');
}

async function expectAborted(p: Promise<unknown>): Promise<void> {
  const error = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as NodeJS.ErrnoException | undefined;
  expect(error, 'the request must fail with no HTTP response').toBeDefined();
  expect(['ECONNRESET', 'EPIPE']).toContain(error?.code);
}

for (const scheme of ['https', 'http'] as const) {
  describe(`emulator contract over ${scheme}`, () => {
    let vulnerable: ExchangeEmulator;
    let patched: ExchangeEmulator;
    let shielded: ExchangeEmulator;
    const useHttp = scheme === 'http';

    beforeAll(async () => {
      [vulnerable, patched, shielded] = await Promise.all([
        startExchangeEmulator({ build: '15.1.2176.2', http: useHttp, isVulnerable }),
        startExchangeEmulator({ build: '15.01.2176.009', http: useHttp, isVulnerable, name: 'EX-PATCHED' }),
        startExchangeEmulator({ build: '15.1.2176.2', http: useHttp, isVulnerable, shielded: true }),
      ]);
    });
    afterAll(async () => {
      await Promise.all([vulnerable?.close(), patched?.close(), shielded?.close()]);
    });

    it('binds to loopback and reports a usable URL', () => {
      for (const e of [vulnerable, patched, shielded]) {
        expect(e.host).toBe('127.0.0.1');
        expect(e.url).toBe(`${scheme}://127.0.0.1:${e.port}`);
      }
      expect(patched.build).toBe('15.1.2176.9');
      expect(vulnerable.vulnerable).toBe(true);
      expect(patched.vulnerable).toBe(false);
    });

    it('GET /owa and /owa/ redirect to the logon page with the common headers and X-OWA-Version', async () => {
      for (const path of ['/owa', '/owa/']) {
        const r = await labRequest(vulnerable.url, path, { headers: { Host: 'mail.lab.test' } });
        expect(r.status).toBe(302);
        expectCommonHeaders(r.headers);
        expect(r.headers['x-owa-version']).toBe('15.1.2176.2');
        expect(r.headers.location).toBe(
          `/owa/auth/logon.aspx?url=${encodeURIComponent(`${scheme}://mail.lab.test/owa/`)}&reason=0`,
        );
      }
    });

    it('serves the logon page with the Exchange markers, the lab label and CU-level resource paths', async () => {
      const r = await labRequest(patched.url, '/owa/auth/logon.aspx');
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/html/);
      expectCommonHeaders(r.headers, 'EX-PATCHED');
      expect(r.headers['x-owa-version']).toBe('15.1.2176.9');
      expect(r.body).toContain('<title>Outlook</title>');
      expect(r.body).toContain('<!-- OwaPage = ASP.auth_logon_aspx -->');
      expect(r.body).toContain('function IsOwaPremiumBrowser');
      expect(r.body).toContain('To use Outlook, browser settings must allow scripts to run.');
      expect(r.body).toContain('<!-- Bulwark lab emulator — not a real Exchange server -->');
      expect(r.body).toContain('/owa/auth/15.1.2176/themes/resources/favicon.ico');
      expect(r.body).toContain('/owa/auth/15.1.2176/themes/resources/logon.css');
      const icon = await labRequest(patched.url, '/owa/auth/15.1.2176/themes/resources/favicon.ico');
      expect(icon.status).toBe(200);
      expectCommonHeaders(icon.headers, 'EX-PATCHED');
    });

    it('serves the export-tool manifest at Current and at the exact build only', async () => {
      const r = await labRequest(vulnerable.url, MANIFEST);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/x-ms-application');
      expect(r.headers['x-owa-version']).toBeUndefined();
      expectCommonHeaders(r.headers);
      expect(r.body).toContain(
        '<assemblyIdentity name="microsoft.exchange.ediscovery.exporttool.application" version="15.1.2176.2" publicKeyToken="b03f5f7f11d50a3a" language="neutral" processorArchitecture="msil" />',
      );
      for (const x of ['15.1.2176.2', '15.01.2176.0002']) {
        expect((await labRequest(vulnerable.url, manifestFor(x))).status).toBe(200);
      }
      for (const x of ['15.1.2176.4', '15.1.2176', '15.1.2176.2.0', 'Latest', '..']) {
        const miss = await labRequest(vulnerable.url, manifestFor(x));
        expect(miss.status).toBe(404);
        expectCommonHeaders(miss.headers);
      }
    });

    it('answers the check request as a vulnerable build: 500 with X-CalculatedBETarget', async () => {
      for (const method of ['GET', 'POST']) {
        const r = await labRequest(vulnerable.url, '/owa/auth/x.js', {
          method,
          headers: { Cookie: CHECK_COOKIE },
        });
        expect(r.status).toBe(500);
        expect(r.headers['x-calculatedbetarget']).toBe('localhost');
        expectCommonHeaders(r.headers);
      }
      const poc = await labRequest(vulnerable.url, '/ecp/abcd.js', {
        headers: { Cookie: 'X-BEResource=localhost~1942062522' },
      });
      expect(poc.status).toBe(500);
      expect(poc.headers['x-calculatedbetarget']).toBe('localhost');
      const noCookie = await labRequest(vulnerable.url, '/owa/auth/x.js');
      expect(noCookie.status).toBe(404);
      expect(noCookie.headers['x-calculatedbetarget']).toBeUndefined();
    });

    it('answers the check request as a patched build: 404 without X-CalculatedBETarget', async () => {
      const r = await labRequest(patched.url, '/owa/auth/x.js', { headers: { Cookie: CHECK_COOKIE } });
      expect(r.status).toBe(404);
      expect(r.headers['x-calculatedbetarget']).toBeUndefined();
      expectCommonHeaders(r.headers, 'EX-PATCHED');
    });

    it('shielded: aborts every request with a check cookie, whatever the URL, and answers the rest', async () => {
      await expectAborted(labRequest(shielded.url, '/owa/auth/x.js', { headers: { Cookie: CHECK_COOKIE } }));
      await expectAborted(
        labRequest(shielded.url, '/ecp/y.js', { headers: { Cookie: 'X-BEResource=a]@b:444/x?#~1' } }),
      );
      await expectAborted(
        labRequest(shielded.url, '/', { method: 'POST', headers: { Cookie: CHECK_COOKIE } }),
      );
      const normal = await labRequest(shielded.url, '/owa/auth/logon.aspx');
      expect(normal.status).toBe(200);
      expect(normal.headers['x-owa-version']).toBe('15.1.2176.2');
      expect((await labRequest(shielded.url, MANIFEST)).status).toBe(200);
      // a cookie without `~` is not the check and not caught by the rules' second pattern
      expect(
        (await labRequest(shielded.url, '/owa/auth/x.js', { headers: { Cookie: 'X-BEResource=x' } })).status,
      ).toBe(404);
    });

    it('answers anything else with 404 and the common headers', async () => {
      for (const path of [
        '/',
        '/ecp/',
        '/owa/auth/15.1.2175/themes/resources/favicon.ico',
        '/autodiscover',
      ]) {
        const r = await labRequest(vulnerable.url, path);
        expect(r.status).toBe(404);
        expectCommonHeaders(r.headers);
      }
      const owa404 = await labRequest(vulnerable.url, '/owa/nothing');
      expect(owa404.status).toBe(404);
      expect(owa404.headers['x-owa-version']).toBe('15.1.2176.2');
    });
  });
}

describe('emulator options', () => {
  it('hideVersionHeader drops X-OWA-Version; hideManifest turns Current into 404 but keeps the exact-build path', async () => {
    const e = await startExchangeEmulator({
      build: '15.2.792.3',
      hideVersionHeader: true,
      hideManifest: true,
      isVulnerable,
      http: true,
    });
    try {
      const logon = await labRequest(e.url, '/owa/auth/logon.aspx');
      expect(logon.status).toBe(200);
      expect(logon.headers['x-owa-version']).toBeUndefined();
      expect(logon.body).toContain('/owa/auth/15.2.792/themes/resources/favicon.ico');
      expect((await labRequest(e.url, '/owa')).headers['x-owa-version']).toBeUndefined();
      expect((await labRequest(e.url, MANIFEST)).status).toBe(404);
      const exact = await labRequest(e.url, manifestFor('15.2.792.3'));
      expect(exact.status).toBe(200);
      expect(exact.body).toContain('version="15.2.792.3"');
      expect((await labRequest(e.url, manifestFor('15.2.792.5'))).status).toBe(404);
    } finally {
      await e.close();
    }
  });

  it('emulates Exchange 2010: 4-part resource paths, no manifest, no brute-force answer', async () => {
    const e = await startExchangeEmulator({ build: '14.3.513.0', isVulnerable });
    try {
      const logon = await labRequest(e.url, '/owa/auth/logon.aspx');
      expect(logon.status).toBe(200);
      expect(logon.headers['x-owa-version']).toBe('14.3.513.0');
      expect(logon.body).toContain('/owa/14.3.513.0/themes/resources/favicon.ico');
      expect(logon.body).not.toContain('/owa/auth/14.3');
      expect((await labRequest(e.url, '/owa/14.3.513.0/themes/resources/favicon.ico')).status).toBe(200);
      expect((await labRequest(e.url, MANIFEST)).status).toBe(404);
      expect((await labRequest(e.url, manifestFor('14.3.513.0'))).status).toBe(404);
      const check = await labRequest(e.url, '/owa/auth/x.js', { headers: { Cookie: CHECK_COOKIE } });
      expect(check.status).toBe(404);
    } finally {
      await e.close();
    }
  });

  it('accepts other loopback addresses and ::1, and refuses anything else unless allowed', async () => {
    const other = await startExchangeEmulator({
      build: '15.0.1497.2',
      host: '127.0.3.7',
      http: true,
      isVulnerable,
    });
    try {
      expect(other.url).toMatch(/^http:\/\/127\.0\.3\.7:\d+$/);
      expect((await labRequest(other.url, '/owa/auth/logon.aspx')).body).toContain('/owa/auth/15.0.1497/');
    } finally {
      await other.close();
    }
    for (const host of ['0.0.0.0', '10.0.0.1', '::', 'example.com', '128.0.0.1']) {
      await expect(startExchangeEmulator({ build: '15.0.1497.2', host, isVulnerable })).rejects.toThrow(
        /not a loopback address/,
      );
    }
  });

  it('refuses builds it cannot emulate with a clear error', async () => {
    await expect(startExchangeEmulator({ build: '15.1.2176', isVulnerable })).rejects.toThrow(LabConfigError);
    await expect(startExchangeEmulator({ build: 'banana', isVulnerable })).rejects.toThrow(/Exchange build/);
    await expect(startExchangeEmulator({ build: '8.3.83.6', isVulnerable })).rejects.toThrow(
      /only Exchange 2010/,
    );
    await expect(startExchangeEmulator({ build: '15.1.2176.2', name: 'a b', isVulnerable })).rejects.toThrow(
      /name/,
    );
  });

  it('close() is idempotent and frees the port', async () => {
    const e = await startExchangeEmulator({ build: '15.1.2176.2', http: true, isVulnerable });
    await Promise.all([e.close(), e.close()]);
    await expectRefused(labRequest(e.url, '/owa'));
  });
});

async function expectRefused(p: Promise<unknown>): Promise<void> {
  const error = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as NodeJS.ErrnoException | undefined;
  expect(error?.code).toBe('ECONNREFUSED');
}

describe('emulator logs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bulwark-lab-logs-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes HttpProxy rows (74 columns) and IIS W3C lines; the check row reads like the real probe row', async () => {
    const root = join(dir, 'vuln');
    const e = await startExchangeEmulator({
      build: '15.1.2176.2',
      logDir: root,
      isVulnerable,
      name: 'EXLAB-1',
    });
    const ua = 'Mozilla/5.0 (X11; Linux x86_64) Lab, "quoted"';
    await labRequest(e.url, '/owa/', { headers: { 'User-Agent': ua } });
    await labRequest(e.url, '/owa/auth/logon.aspx?url=a%20b&reason=0', { headers: { 'User-Agent': ua } });
    await labRequest(e.url, MANIFEST, { headers: { 'User-Agent': ua } });
    await labRequest(e.url, '/owa/auth/x.js', { headers: { Cookie: CHECK_COOKIE, 'User-Agent': ua } });
    await e.close();

    const owaDir = join(root, 'Logging', 'HttpProxy', 'Owa');
    const owaFiles = await readdir(owaDir);
    expect(owaFiles).toHaveLength(1);
    expect(owaFiles[0]).toMatch(/^HttpProxy_\d{10}-1\.LOG$/);
    const owa = (await readFile(join(owaDir, owaFiles[0]!), 'utf8')).trimEnd().split('\n');
    expect(owa.slice(0, 3)).toEqual([
      '#Software: Microsoft Exchange Server',
      '#Version: 15.01.2176.002',
      '#Log-type: HttpProxy Logs',
    ]);
    expect(owa[3]).toMatch(/^#Date: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(owa[4]).toBe(`#Fields: ${HTTPPROXY_FIELDS.join(',')}`);
    expect(HTTPPROXY_FIELDS).toHaveLength(74);
    const rows = owa.slice(5).map(parseCsv);
    expect(rows).toHaveLength(3);
    const col = (row: string[], f: (typeof HTTPPROXY_FIELDS)[number]): string | undefined =>
      row[HTTPPROXY_FIELDS.indexOf(f)];
    for (const row of rows) {
      expect(row).toHaveLength(74);
      expect(col(row, 'DateTime')).toMatch(/Z$/);
      expect(col(row, 'RequestId')).toMatch(/^[0-9a-f-]{36}$/);
      expect([col(row, 'MajorVersion'), col(row, 'MinorVersion'), col(row, 'BuildVersion')]).toEqual([
        '15',
        '1',
        '2176',
      ]);
      expect(col(row, 'RevisionVersion')).toBe('2');
      expect(col(row, 'Protocol')).toBe('Owa');
      expect(col(row, 'UserAgent')).toBe(ua);
      expect(col(row, 'ClientIpAddress')).toBe('127.0.0.1');
      expect(col(row, 'ServerHostName')).toBe('EXLAB-1');
      expect(col(row, 'UrlHost')).toBe('127.0.0.1');
    }
    const logon = rows.find((r) => col(r, 'UrlStem') === '/owa/auth/logon.aspx')!;
    expect(col(logon, 'UrlQuery')).toBe('?url=a%20b&reason=0');
    expect(col(logon, 'HttpStatus')).toBe('200');
    const check = rows.find((r) => col(r, 'UrlStem') === '/owa/auth/x.js')!;
    expect(col(check, 'AnchorMailbox')).toBe('ServerInfo~localhost/ecp/default.flt?');
    expect(col(check, 'HttpStatus')).toBe('500');
    expect(col(check, 'TargetServer')).toBe('localhost');
    expect(col(check, 'RoutingHint')).toBe('X-AnonResource-Backend-Cookie');
    expect(col(check, 'AuthenticatedUser')).toBe('');
    expect(col(check, 'Method')).toBe('GET');

    const ecpDir = join(root, 'Logging', 'HttpProxy', 'Ecp');
    const [ecpFile] = await readdir(ecpDir);
    const ecp = (await readFile(join(ecpDir, ecpFile!), 'utf8')).trimEnd().split('\n');
    expect(
      ecp.filter((l) => !l.startsWith('#')).map(parseCsv)[0]?.[HTTPPROXY_FIELDS.indexOf('UrlStem')],
    ).toBe(MANIFEST);

    const iisDir = join(root, 'inetpub', 'logs', 'LogFiles', 'W3SVC1');
    const iisFiles = await readdir(iisDir);
    expect(iisFiles).toHaveLength(1);
    expect(iisFiles[0]).toMatch(/^u_ex\d{6}\.log$/);
    const iis = (await readFile(join(iisDir, iisFiles[0]!), 'utf8')).trimEnd().split('\n');
    expect(iis.slice(0, 2)).toEqual([
      '#Software: Microsoft Internet Information Services 10.0',
      '#Version: 1.0',
    ]);
    expect(iis[2]).toMatch(/^#Date: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(iis[3]).toBe(
      '#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken',
    );
    const lines = iis.slice(4).map((l) => l.split(' '));
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l).toHaveLength(15);
    const x = lines.find((l) => l[4] === '/owa/auth/x.js')!;
    expect(x[2]).toBe('127.0.0.1');
    expect(x[3]).toBe('GET');
    expect(x[5]).toMatch(/^&CorrelationID=<empty>;&cafeReqId=[0-9a-f-]{36};$/);
    expect(x[6]).toBe(String(e.port));
    expect(x[7]).toBe('-');
    expect(x[9]).toBe('Mozilla/5.0+(X11;+Linux+x86_64)+Lab,+"quoted"');
    expect(x[10]).toBe('-');
    expect(x[11]).toBe('500');
  });

  it('patched: the check row has status 404 and no back-end target; shielded aborts are not logged', async () => {
    const pRoot = join(dir, 'patched');
    const sRoot = join(dir, 'shielded');
    const p = await startExchangeEmulator({ build: '15.1.2176.9', logDir: pRoot, isVulnerable, http: true });
    const s = await startExchangeEmulator({
      build: '15.1.2176.2',
      logDir: sRoot,
      isVulnerable,
      http: true,
      shielded: true,
    });
    await labRequest(p.url, '/owa/auth/x.js', { headers: { Cookie: CHECK_COOKIE } });
    await expectAborted(labRequest(s.url, '/owa/auth/x.js', { headers: { Cookie: CHECK_COOKIE } }));
    await labRequest(s.url, '/owa/auth/logon.aspx');
    await Promise.all([p.close(), s.close()]);

    const pDir = join(pRoot, 'Logging', 'HttpProxy', 'Owa');
    const pRows = (await readFile(join(pDir, (await readdir(pDir))[0]!), 'utf8'))
      .trimEnd()
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map(parseCsv);
    expect(pRows).toHaveLength(1);
    const row = pRows[0]!;
    expect(row[HTTPPROXY_FIELDS.indexOf('HttpStatus')]).toBe('404');
    expect(row[HTTPPROXY_FIELDS.indexOf('TargetServer')]).toBe('');
    expect(row[HTTPPROXY_FIELDS.indexOf('AnchorMailbox')]).toBe('ServerInfo~localhost/ecp/default.flt?');

    const sDir = join(sRoot, 'Logging', 'HttpProxy', 'Owa');
    const sRows = (await readFile(join(sDir, (await readdir(sDir))[0]!), 'utf8'))
      .trimEnd()
      .split('\n')
      .filter((l) => !l.startsWith('#'));
    expect(sRows).toHaveLength(1);
    expect(sRows[0]).toContain('/owa/auth/logon.aspx');
    expect(sRows[0]).not.toContain('x.js');
  });

  it('Exchange 2010 writes IIS lines but no HttpProxy log; a restarted emulator appends without a second header', async () => {
    const root = join(dir, 'e2010');
    for (let i = 0; i < 2; i++) {
      const e = await startExchangeEmulator({ build: '14.3.513.0', logDir: root, isVulnerable, http: true });
      await labRequest(e.url, '/owa/auth/logon.aspx');
      await e.close();
    }
    await expect(readdir(join(root, 'Logging'))).rejects.toThrow();
    const iisDir = join(root, 'inetpub', 'logs', 'LogFiles', 'W3SVC1');
    const text = await readFile(join(iisDir, (await readdir(iisDir))[0]!), 'utf8');
    expect(text.match(/^#Fields:/gm)).toHaveLength(1);
    expect(
      text
        .trimEnd()
        .split('\n')
        .filter((l) => !l.startsWith('#')),
    ).toHaveLength(2);
  });
});

describe('hostile clients', () => {
  /** Sends `payload` and collects everything until the server closes; `keepOpen` skips the client half-close. */
  async function raw(
    port: number,
    secure: boolean,
    payload: Buffer | string,
    keepOpen = false,
  ): Promise<string> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const socket = secure
        ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
        : net.connect({ host: '127.0.0.1', port });
      socket.on(secure ? 'secureConnect' : 'connect', () =>
        keepOpen ? socket.write(payload) : socket.end(payload),
      );
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.setTimeout(10_000, () => socket.destroy());
    });
  }

  for (const secure of [false, true]) {
    it(`survives malformed request lines, huge headers and garbage bytes (${secure ? 'https' : 'http'})`, async () => {
      const e = await startExchangeEmulator({
        build: '15.1.2176.2',
        http: !secure,
        isVulnerable,
        shielded: true,
      });
      try {
        expect(await raw(e.port, secure, 'GARBAGE\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
        expect(await raw(e.port, secure, 'GET /owa HTTP/9.9 extra\r\n\r\n')).toMatch(/^HTTP\/1\.1 (400|505)/);
        const huge = `GET /owa HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(200_000)}\r\n\r\n`;
        expect(await raw(e.port, secure, huge)).toMatch(/^HTTP\/1\.1 431/);
        await raw(e.port, secure, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)));
        await raw(
          e.port,
          secure,
          'GET /owa/auth/x.js HTTP/1.1\r\nHost: x\r\nCookie: X-AnonResource-Backend=a~1\r\n\r\n',
        );
        await raw(e.port, secure, 'POST /owa HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc');
        await raw(e.port, secure, 'GET /%E0%A4%A HTTP/1.1\r\nHost: \r\n\r\n');
        if (!secure) await raw(e.port, false, '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03');
        else {
          // plain HTTP to the TLS port
          await new Promise<void>((resolve) => {
            const s = net.connect({ host: '127.0.0.1', port: e.port }, () => s.end('GET / HTTP/1.1\r\n\r\n'));
            s.on('error', () => undefined);
            s.on('close', () => resolve());
          });
        }
        // keep-alive: two requests on one connection
        const two = await raw(
          e.port,
          secure,
          'GET /owa HTTP/1.1\r\nHost: a\r\n\r\nGET /owa/auth/logon.aspx HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
          true,
        );
        expect(two.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 302', 'HTTP/1.1 200']);
        expect((await labRequest(e.url, '/owa/auth/logon.aspx')).status).toBe(200);
      } finally {
        await e.close();
      }
    });
  }

  it('answers or (shielded) aborts any path, method and cookie without crashing', async () => {
    const plain = await startExchangeEmulator({ build: '15.1.2176.2', http: true, isVulnerable });
    const shield = await startExchangeEmulator({
      build: '15.1.2176.2',
      http: true,
      isVulnerable,
      shielded: true,
    });
    const token = fc.string({ minLength: 1, maxLength: 12, unit: fc.constantFrom(...'abcXYZ019-_.') });
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.oneof(token, fc.constantFrom('owa', 'ecp', 'auth', 'x.js', '%2e%2e', '15.1.2176.2')), {
            maxLength: 6,
          }),
          fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PROPFIND'),
          fc.array(
            fc.oneof(token, fc.constantFrom('X-BEResource', 'X-AnonResource-Backend', '~', '=', ';', '/')),
            {
              maxLength: 8,
            },
          ),
          async (segments, method, cookieParts) => {
            const path = `/${segments.join('/')}`;
            const cookie = cookieParts.join('');
            const headers = cookie ? { Cookie: cookie } : undefined;
            const r = await labRequest(plain.url, path, { method, headers });
            expect([200, 302, 404, 500]).toContain(r.status);
            expect(r.headers['x-bulwark-lab']).toBe('emulator');
            await labRequest(shield.url, path, { method, headers }).then(
              (s) => expect(s.status).toBe(r.status === 500 ? -1 : r.status),
              (error: NodeJS.ErrnoException) => expect(error.code).toBe('ECONNRESET'),
            );
          },
        ),
        { numRuns: 150 },
      );
      expect((await labRequest(plain.url, '/owa')).status).toBe(302);
    } finally {
      await Promise.all([plain.close(), shield.close()]);
    }
  });
});

/** A log line read with the hunt's own CSV reader (what `bulwark hunt` sees of the emulator's logs). */
function parseCsv(line: string): string[] {
  const values = splitCsv(line);
  if (!values) throw new Error(`not an RFC 4180 line: ${line}`);
  return values;
}
