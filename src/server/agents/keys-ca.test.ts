import 'reflect-metadata';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, describe, expect, it } from 'vitest';
import { jobSigningBytes, publicKeyFromRaw, publicKeyToRaw, verifyBytes } from '../../api/agent-protocol.js';
import { openTestDb, TEST_DIALECTS } from '../db/db.testkit.js';
import { AgentCa, agentUri, revokeCertificates } from './ca.js';
import { AgentKeys, loadMasterKey, MasterKeyError, seal, unseal } from './keys.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'bulwark-keys-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('master key', () => {
  it('is made on first use with mode 0600 and read back the same', () => {
    const dataDir = tmp();
    const a = loadMasterKey({ data_dir: dataDir });
    expect(a.length).toBe(32);
    expect(statSync(join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);
    expect(loadMasterKey({ data_dir: dataDir }).equals(a)).toBe(true);
  });

  it('refuses a file of the wrong length, naming the file', () => {
    const dir = tmp();
    const file = join(dir, 'short.key');
    writeFileSync(file, Buffer.alloc(16).toString('base64'));
    expect(() => loadMasterKey({ data_dir: dir, master_key_file: file })).toThrow(MasterKeyError);
    expect(() => loadMasterKey({ data_dir: dir, master_key_file: file })).toThrow(
      /short\.key: must hold 32 bytes/,
    );
  });

  it('refuses an unreadable file', () => {
    if (process.getuid?.() === 0) return; // root reads any file
    const dir = tmp();
    const file = join(dir, 'm.key');
    writeFileSync(file, Buffer.alloc(32, 1).toString('base64'));
    chmodSync(file, 0o000);
    expect(() => loadMasterKey({ data_dir: dir, master_key_file: file })).toThrow(/cannot read \(EACCES\)/);
  });

  it('stops the server start with a clear message when the key file is not a key', async () => {
    const { startServer } = await import('../start.js');
    const { loadServerConfig } = await import('../config.js');
    const dir = tmp();
    const file = join(dir, 'bad.key');
    writeFileSync(file, 'not a key');
    const config = loadServerConfig({
      overrides: {
        data_dir: dir,
        port: 0,
        log_level: 'silent',
        master_key_file: file,
        builtin_advisories: false,
      },
    });
    await expect(startServer(config, { print: () => {} })).rejects.toThrow(/bad\.key: must hold 32 bytes/);
  });

  it('seals so that only the same key and name open', () => {
    const k1 = Buffer.alloc(32, 1);
    const k2 = Buffer.alloc(32, 2);
    const sealed = seal(k1, 'agent_ca', Buffer.from('secret'));
    expect(unseal(k1, 'agent_ca', sealed).toString()).toBe('secret');
    expect(() => unseal(k2, 'agent_ca', sealed)).toThrow(/does not open with this master key/);
    expect(() => unseal(k1, 'job_signing:x', sealed)).toThrow(MasterKeyError);
    expect(sealed).not.toContain(Buffer.from('secret').toString('base64url'));
  });
});

describe.each(TEST_DIALECTS)('agent keys and CA (%s)', (dialect) => {
  it('makes one job-signing key even when replicas ask at once; envelopes verify, altered ones do not', async () => {
    const db = await openTestDb(dialect);
    if (!db) return;
    try {
      const config = { data_dir: db.dataDir };
      const replicas = [0, 1, 2, 3].map(() => new AgentKeys(db.kysely, config));
      const signers = await Promise.all(replicas.map((r) => r.jobSigner()));
      expect(new Set(signers.map((s) => s.keyId)).size).toBe(1);
      const rows = await db.kysely.selectFrom('server_keys').select(['name', 'secret']).execute();
      const signing = rows.filter((r) => r.name.startsWith('job_signing:'));
      expect(signing.map((r) => r.name)).toEqual([`job_signing:${signers[0]!.keyId}`]);
      expect(signing[0]!.secret.startsWith('v1.')).toBe(true);
      const published = await replicas[1]!.serverKeys();
      expect(published).toEqual([{ key_id: signers[0]!.keyId, public_key: signers[0]!.key.publicRaw }]);

      const signed = signers[2]!.sign({
        v: 1,
        job_id: 'aj-1',
        agent_id: 'ag-1',
        tenant_id: 't1',
        kind: 'inventory',
        params: {},
        not_before: new Date().toISOString(),
        expires_at: new Date(Date.now() + 60_000).toISOString(),
        nonce: 'n'.repeat(22),
      });
      const pub = publicKeyFromRaw(published[0]!.public_key);
      expect(verifyBytes(pub, jobSigningBytes(signed.envelope), signed.signature)).toBe(true);
      const altered = { ...signed.envelope, agent_id: 'ag-2' };
      expect(verifyBytes(pub, jobSigningBytes(altered), signed.signature)).toBe(false);
    } finally {
      await db.dispose();
    }
  });

  it('issues device certificates that verify against the CA, carry the agent key and SAN, and revokes them', async () => {
    const db = await openTestDb(dialect);
    if (!db) return;
    try {
      const keys = new AgentKeys(db.kysely, { data_dir: db.dataDir });
      const [a, b] = await Promise.all([new AgentCa(keys, 30).ca(), new AgentCa(keys, 30).ca()]);
      expect(a.certificatePem).toBe(b.certificatePem);
      const ca = new AgentCa(keys, 30);
      const caCert = new X509Certificate(await ca.certificatePem());
      expect(caCert.ca).toBe(true);

      const { publicKey } = generateKeyPairSync('ed25519');
      const raw = publicKeyToRaw(publicKey);
      const issued = await ca.issue({ tenantId: 't1', agentId: 'ag-0123456789abcdef', publicKey: raw });
      const cert = new X509Certificate(issued.pem);
      expect(cert.verify(caCert.publicKey)).toBe(true);
      expect(cert.checkIssued(caCert)).toBe(true);
      expect(cert.publicKey.export({ format: 'jwk' }).x).toBe(raw);
      expect(cert.subject).toBe('CN=ag-0123456789abcdef\nO=t1');
      expect(cert.subjectAltName).toBe(`URI:${agentUri('t1', 'ag-0123456789abcdef')}`);
      expect(cert.serialNumber.toLowerCase()).toBe(issued.serial);
      expect(issued.serial).toMatch(/^[0-9a-f]{32}$/);
      expect(new Date(cert.validTo).toISOString()).toBe(issued.notAfter);
      const days = (Date.parse(issued.notAfter) - Date.now()) / 86_400_000;
      expect(days).toBeGreaterThan(29.9);
      expect(days).toBeLessThanOrEqual(30);
      // The general parser reads it the same way, extensions included.
      const parsed = new x509.X509Certificate(issued.pem);
      expect(
        await parsed.verify({ publicKey: caCert.publicKey.export({ format: 'der', type: 'spki' }) }),
      ).toBe(true);
      const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
      expect(san?.names.toJSON()).toEqual([{ type: 'url', value: agentUri('t1', 'ag-0123456789abcdef') }]);
      expect(parsed.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
      // A certificate signed by another CA does not verify.
      const other = new X509Certificate(
        await new AgentCa(new AgentKeys(db.kysely, { data_dir: db.dataDir }), 30).certificatePem(),
      );
      expect(other.fingerprint256).toBe(caCert.fingerprint256);
      const { publicKey: stranger } = generateKeyPairSync('ed25519');
      expect(cert.verify(stranger)).toBe(false);

      // Issue cost: printed for the report; far below a millisecond each.
      const n = 2000;
      const t0 = performance.now();
      const material = await ca.ca();
      const { issueWith } = await import('./ca.js');
      for (let i = 0; i < n; i++)
        issueWith(material, { tenantId: 't1', agentId: `ag-${i}`, publicKey: raw, days: 30 });
      const perCert = (performance.now() - t0) / n;
      console.log(`device certificate issue (${dialect}): ${(perCert * 1000).toFixed(0)} µs each`);
      expect(perCert).toBeLessThan(2);

      const now = new Date().toISOString();
      await db.kysely.insertInto('tenants').values({ id: 't1', name: 'T', created_at: now }).execute();
      await db.kysely
        .insertInto('agent_certificates')
        .values([
          {
            serial: 's1',
            tenant_id: 't1',
            agent_id: 'ag-1',
            not_before: now,
            not_after: now,
            revoked_at: null,
          },
          {
            serial: 's2',
            tenant_id: 't1',
            agent_id: 'ag-1',
            not_before: now,
            not_after: now,
            revoked_at: null,
          },
          {
            serial: 's3',
            tenant_id: 't1',
            agent_id: 'ag-2',
            not_before: now,
            not_after: now,
            revoked_at: null,
          },
        ])
        .execute();
      expect(await revokeCertificates(db.kysely, 't1', 'ag-1', now)).toBe(2);
      const left = await db.kysely
        .selectFrom('agent_certificates')
        .select('serial')
        .where('revoked_at', 'is', null)
        .execute();
      expect(left.map((r) => r.serial)).toEqual(['s3']);
    } finally {
      await db.dispose();
    }
  });

  it('keeps the master key out of the database', async () => {
    const db = await openTestDb(dialect);
    if (!db) return;
    try {
      const keys = new AgentKeys(db.kysely, { data_dir: db.dataDir });
      await new AgentCa(keys, 30).ca();
      await keys.jobSigner();
      const master = readFileSync(join(db.dataDir, 'master.key'), 'utf8').trim();
      const rows = await db.kysely.selectFrom('server_keys').selectAll().execute();
      for (const r of rows) expect(r.secret).not.toContain(master);
      expect(JSON.stringify(rows)).not.toContain('PRIVATE KEY');
    } finally {
      await db.dispose();
    }
  });
});
