/**
 * The installation's agent CA: one Ed25519 CA per installation, made at first need (insert-or-read, so replicas
 * agree on one), its key sealed in `server_keys` as `agent_ca`. It issues each agent a device certificate: subject
 * `CN=<agent_id>, O=<tenant_id>`, SAN URI `urn:bulwark:agent:<tenant_id>:<agent_id>`, the agent's own Ed25519 key,
 * a random 16-byte serial, valid `agent_cert_days` — the device identity the gateway checks.
 *
 * The CA certificate is made with @peculiar/x509. Device certificates are written as DER directly (der.ts) and
 * signed with node:crypto: the same structure, about fifty times cheaper than the general ASN.1 layer, which
 * matters when a fleet of 100,000 agents enrols.
 */
import 'reflect-metadata';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
  webcrypto,
} from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Kysely } from 'kysely';
import { publicKeyToRaw } from '../../api/agent-protocol.js';
import type { Database } from '../db/schema.js';
import {
  bitString,
  booleanTrue,
  explicit,
  implicit,
  octetString,
  oid,
  readTlv,
  sequence,
  set,
  time,
  tlv,
  unsignedInteger,
  utf8String,
} from './der.js';
import type { AgentKeys } from './keys.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const CA_KEY_NAME = 'agent_ca';
const CA_YEARS = 20;
/** A fresh certificate is valid from a minute ago: an agent's clock a little behind still accepts it. */
const BACKDATE_MS = 60_000;

const ED25519 = sequence(oid('1.3.101.112'));
const OID_CN = oid('2.5.4.3');
const OID_O = oid('2.5.4.10');
const VERSION_3 = explicit(0, tlv(0x02, Buffer.from([2])));
const EXT_BASIC_CONSTRAINTS = sequence(oid('2.5.29.19'), booleanTrue(), octetString(sequence()));
const EXT_KEY_USAGE = sequence(
  oid('2.5.29.15'),
  booleanTrue(),
  // digitalSignature only.
  octetString(tlv(0x03, Buffer.from([7, 0x80]))),
);
const EXT_CLIENT_AUTH = sequence(oid('2.5.29.37'), octetString(sequence(oid('1.3.6.1.5.5.7.3.2'))));
const OID_SAN = oid('2.5.29.17');
const OID_SKI = oid('2.5.29.14');
const OID_AKI = oid('2.5.29.35');

export function agentUri(tenantId: string, agentId: string): string {
  return `urn:bulwark:agent:${tenantId}:${agentId}`;
}

/** The CA as stored (sealed): its private key and certificate. */
interface StoredCa {
  private_key_pkcs8: string;
  certificate_pem: string;
}

export interface CaMaterial {
  privateKey: KeyObject;
  publicKey: KeyObject;
  certificatePem: string;
  /** The CA certificate's subject, DER: every device certificate's issuer. */
  subjectDer: Buffer;
  /** The CA's key identifier (SHA-1 of its raw public key, RFC 5280 method 1). */
  keyId: Buffer;
}

export interface IssuedCertificate {
  serial: string;
  pem: string;
  notBefore: string;
  notAfter: string;
}

/** SubjectPublicKeyInfo of an Ed25519 key up to the raw key: algorithm 1.3.101.112, then a 33-byte BIT STRING. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The 32 bytes of a raw base64url Ed25519 public key; throws a TypeError for anything else. */
function rawKeyBytes(publicKey: string): Buffer {
  if (!/^[A-Za-z0-9_-]{43}$/.test(publicKey))
    throw new TypeError('expected a base64url Ed25519 public key (43 characters)');
  return Buffer.from(publicKey, 'base64url');
}

function keyIdentifier(publicKey: KeyObject): Buffer {
  return createHash('sha1')
    .update(Buffer.from(publicKeyToRaw(publicKey), 'base64url'))
    .digest();
}

async function makeCa(): Promise<Buffer> {
  const alg = { name: 'Ed25519' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const publicKey = createPublicKey({
    key: Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey)),
    format: 'der',
    type: 'spki',
  });
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=Bulwark agent CA ${randomBytes(4).toString('hex')}, O=Bulwark`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_YEARS * 365 * 86_400_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectKeyIdentifierExtension(keyIdentifier(publicKey).toString('hex')),
    ],
  });
  const stored: StoredCa = {
    private_key_pkcs8: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString(
      'base64',
    ),
    certificate_pem: cert.toString('pem'),
  };
  return Buffer.from(JSON.stringify(stored), 'utf8');
}

/** A random 16-byte serial as hex: positive and exactly 16 bytes in DER (top bit clear, not zero-led). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString('hex');
}

function pem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}

function derOfPem(text: string): Buffer {
  return Buffer.from(text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** The subject Name of a certificate, DER (Certificate → TBSCertificate → 6th field). */
function subjectOf(certDer: Buffer): Buffer {
  const cert = readTlv(certDer, 0);
  const tbs = readTlv(certDer, cert.start);
  let at = tbs.start;
  // version [0], serial, signature algorithm, issuer, validity, then the subject.
  for (let i = 0; i < 5; i++) at = readTlv(certDer, at).end;
  const subject = readTlv(certDer, at);
  return certDer.subarray(at, subject.end);
}

/** Issues a device certificate with the CA's material (synchronous: for loops over many agents). */
export function issueWith(
  ca: CaMaterial,
  p: { tenantId: string; agentId: string; publicKey: string; days: number; now?: Date },
): IssuedCertificate {
  const raw = rawKeyBytes(p.publicKey);
  const nowMs = (p.now ?? new Date()).getTime();
  const notBefore = new Date(Math.floor((nowMs - BACKDATE_MS) / 1000) * 1000);
  const notAfter = new Date(Math.floor((nowMs + p.days * 86_400_000) / 1000) * 1000);
  const serial = randomSerial();
  const subject = sequence(
    set(sequence(OID_CN, utf8String(p.agentId))),
    set(sequence(OID_O, utf8String(p.tenantId))),
  );
  const spki = Buffer.concat([SPKI_PREFIX, raw]);
  const extensions = explicit(
    3,
    sequence(
      EXT_BASIC_CONSTRAINTS,
      EXT_KEY_USAGE,
      EXT_CLIENT_AUTH,
      sequence(
        OID_SAN,
        octetString(sequence(tlv(0x86, Buffer.from(agentUri(p.tenantId, p.agentId), 'ascii')))),
      ),
      sequence(OID_SKI, octetString(octetString(createHash('sha1').update(raw).digest()))),
      sequence(OID_AKI, octetString(sequence(implicit(0, ca.keyId)))),
    ),
  );
  const tbs = sequence(
    VERSION_3,
    unsignedInteger(Buffer.from(serial, 'hex')),
    ED25519,
    ca.subjectDer,
    sequence(time(notBefore), time(notAfter)),
    subject,
    spki,
    extensions,
  );
  const signature = sign(null, tbs, ca.privateKey);
  return {
    serial,
    pem: pem(sequence(tbs, ED25519, bitString(signature))),
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
  };
}

export class AgentCa {
  private material: Promise<CaMaterial> | undefined;

  constructor(
    private readonly keys: AgentKeys,
    private readonly certDays: number,
  ) {}

  /** The CA, made at first need and loaded once per process. */
  ca(): Promise<CaMaterial> {
    this.material ??= this.load().catch((err) => {
      this.material = undefined;
      throw err;
    });
    return this.material;
  }

  /** The CA certificate (PEM): agents and, later, the gateway check device certificates against it. */
  async certificatePem(): Promise<string> {
    return (await this.ca()).certificatePem;
  }

  async issue(p: {
    tenantId: string;
    agentId: string;
    publicKey: string;
    now?: Date;
  }): Promise<IssuedCertificate> {
    return issueWith(await this.ca(), { ...p, days: this.certDays });
  }

  private async load(): Promise<CaMaterial> {
    const stored = JSON.parse((await this.keys.secret(CA_KEY_NAME, makeCa)).toString('utf8')) as StoredCa;
    const privateKey = createPrivateKey({
      key: Buffer.from(stored.private_key_pkcs8, 'base64'),
      format: 'der',
      type: 'pkcs8',
    });
    const publicKey = createPublicKey(privateKey);
    return {
      privateKey,
      publicKey,
      certificatePem: stored.certificate_pem,
      subjectDer: Buffer.from(subjectOf(derOfPem(stored.certificate_pem))),
      keyId: keyIdentifier(publicKey),
    };
  }
}

/** Revokes every certificate of the agent not yet revoked; returns how many. */
export async function revokeCertificates(
  k: Kysely<Database>,
  tenantId: string,
  agentId: string,
  at: string,
): Promise<number> {
  const res = await k
    .updateTable('agent_certificates')
    .set({ revoked_at: at })
    .where('tenant_id', '=', tenantId)
    .where('agent_id', '=', agentId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}
