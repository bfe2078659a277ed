/**
 * The upstream certificate check (upstream-tls.ts) through a real pool against real TLS servers on 127.0.0.1:
 * each refusal in words with the pin to trust, and exactly the connections Node's own verification would allow.
 */
import { createHash, X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import selfsigned from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileGatewayConfig, validateGatewayConfig } from './config.js';
import { tmpDir, writeTmp } from './gateway.testkit.js';
import { UpstreamCertificateError, UpstreamPool } from './pool.js';

type Pem = { key: string; cert: string };

async function cert(cn: string, opts: Record<string, unknown> = {}): Promise<Pem> {
  const p = await selfsigned.generate([{ name: 'commonName', value: cn }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    ...opts,
  });
  return { key: p.private, cert: p.cert };
}

const servers: tls.Server[] = [];
async function serve(pem: Pem): Promise<number> {
  const s = tls.createServer(pem, (sock) => sock.end());
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

const dir = tmpDir();
/** Connect once through a pool built from a route's upstream config; the error, or undefined when it connected. */
async function connect(upstream: Record<string, unknown>): Promise<Error | undefined> {
  const config = validateGatewayConfig({ listen: [{ port: 0 }], routes: [{ name: 'r', upstream }] });
  const pool = new UpstreamPool(compileGatewayConfig(config).routes[0]!.upstream);
  try {
    const lease = await pool.acquire();
    pool.release(lease.socket, false);
    return undefined;
  } catch (e) {
    return e as Error;
  } finally {
    pool.close();
  }
}

const spki = (pem: string) =>
  `sha256//${createHash('sha256')
    .update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64')}`;

describe('upstream certificate check', () => {
  let ca: Pem;
  let self: Pem;
  let signed: Pem;
  let expired: Pem;
  beforeAll(async () => {
    ca = await cert('Contoso Root', { extensions: [{ name: 'basicConstraints', cA: true }] });
    self = await cert('EXCH01', {
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    signed = await cert('localhost', { ca });
    expired = await cert('localhost', {
      notBeforeDate: new Date('2020-01-01'),
      notAfterDate: new Date('2021-01-01'),
      ca,
    });
  });
  afterAll(() => {
    for (const s of servers) s.close();
  });

  it('self-signed: refused with words and the public-key pin (curl form); that pin then connects', async () => {
    const port = await serve(self);
    const e = await connect({ url: `https://127.0.0.1:${port}` });
    expect(e).toBeInstanceOf(UpstreamCertificateError);
    expect((e as UpstreamCertificateError).problem).toBe('certificate is self-signed (CN=EXCH01)');
    expect((e as UpstreamCertificateError).pin).toBe(spki(self.cert));
    // An EC key: Node's cert.pubkey is the bare point, not the SubjectPublicKeyInfo curl pins.
    expect(await connect({ url: `https://127.0.0.1:${port}`, pin_sha256: spki(self.cert) })).toBeUndefined();
    const hex = new X509Certificate(self.cert).fingerprint256;
    expect(await connect({ url: `https://127.0.0.1:${port}`, pin_sha256: hex })).toBeUndefined();
    expect(await connect({ url: `https://127.0.0.1:${port}`, insecure: true })).toBeUndefined();
  });

  it('issued by an unknown CA: says so; with that CA it connects; expired: says when', async () => {
    const port = await serve(signed);
    const e = await connect({ url: `https://localhost:${port}` });
    expect(e?.message).toMatch(
      /certificate is issued by a CA that is not trusted \(CN=localhost, issuer Contoso Root\)/,
    );
    const caFile = writeTmp(dir, 'ca.pem', ca.cert);
    expect(await connect({ url: `https://localhost:${port}`, ca: caFile })).toBeUndefined();
    const old = await serve(expired);
    const e2 = await connect({ url: `https://localhost:${old}`, ca: caFile });
    expect(e2?.message).toMatch(/certificate expired on Jan {2}1 00:00:00 2021 GMT \(CN=localhost\)/);
  });

  it('a pin with a CA needs both: the pin must match and the chain verify', async () => {
    const port = await serve(self);
    const caFile = writeTmp(dir, 'ca2.pem', ca.cert);
    const e = await connect({ url: `https://127.0.0.1:${port}`, ca: caFile, pin_sha256: spki(self.cert) });
    expect(e?.message).toMatch(/certificate is self-signed/);
    const wrong = await connect({ url: `https://127.0.0.1:${port}`, pin_sha256: spki(ca.cert) });
    expect(wrong?.message).toMatch(/certificate pin mismatch \(CN=EXCH01\); its pin is sha256\/\//);
  });

  it('insecure is only for https and not with ca/pin', () => {
    expect(() =>
      compileGatewayConfig(
        validateGatewayConfig({
          listen: [{ port: 0 }],
          routes: [{ name: 'r', upstream: { url: 'http://h', insecure: true } }],
        }),
      ),
    ).toThrow(/need an https:\/\/ url/);
    expect(() =>
      compileGatewayConfig(
        validateGatewayConfig({
          listen: [{ port: 0 }],
          routes: [
            { name: 'r', upstream: { url: 'https://h', insecure: true, pin_sha256: 'AB'.repeat(32) } },
          ],
        }),
      ),
    ).toThrow(/insecure contradicts ca\/pin_sha256/);
  });
});
