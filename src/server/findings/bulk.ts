/**
 * Confirmations of two-step bulk changes. A preview hands out a confirmation: its claims (tenant, principal,
 * filter, new status, reason, a digest of the matched findings with their versions, expiry, a random id) in
 * base64url, then an HMAC-SHA256 of them with the installation's `bulk_confirmation` key (server_keys, the same
 * for every replica). A commit checks the HMAC, the tenant, the principal and the expiry here; that the match set
 * is unchanged and that the confirmation was not used before, in its transaction (service.ts).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { BulkFilter } from '../../api/index.js';
import { sameSecret } from '../auth/secrets.js';
import type { Database, FindingTable } from '../db/schema.js';
import { badRequest, forbidden } from '../errors.js';
import { findingEtag } from './repository.js';

export interface ConfirmationClaims {
  id: string;
  tenant: string;
  principal: string;
  filter: BulkFilter;
  status: string;
  reason: string;
  /** Digest of the matched findings (asset, CVE, version), in key order. */
  digest: string;
  /** Expiry, milliseconds since the epoch. */
  expires: number;
}

const PREFIX = 'bwc1';

/** The digest of a match set: which findings, each in which version. */
export function matchDigest(rows: readonly FindingTable[]): string {
  const h = createHash('sha256');
  for (const r of rows) h.update(`${r.asset_id}\t${r.cve}\t${findingEtag(r)}\n`);
  return h.digest('base64url');
}

export function newConfirmationId(): string {
  return randomBytes(12).toString('base64url');
}

function mac(key: string, payload: string): string {
  return createHmac('sha256', key).update(`${PREFIX}.${payload}`).digest('base64url');
}

export function signConfirmation(key: string, claims: ConfirmationClaims): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${PREFIX}.${payload}.${mac(key, payload)}`;
}

/**
 * The claims of a confirmation this installation signed for this tenant and principal; 400 for anything else
 * that is not one (altered, or signed by another installation), 403 for one given to another principal or for
 * another tenant. Expiry is the caller's to check.
 */
export function openConfirmation(
  key: string,
  token: string,
  expect: { tenant: string; principal: string },
): ConfirmationClaims {
  const notOne = () =>
    badRequest(
      'token: not a confirmation this server gave out (altered or from another server); preview again',
    );
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX || !/^[A-Za-z0-9_-]+$/.test(parts[1]!)) throw notOne();
  if (!sameSecret(parts[2]!, mac(key, parts[1]!))) throw notOne();
  let claims: ConfirmationClaims;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as ConfirmationClaims;
  } catch {
    throw notOne();
  }
  if (claims.tenant !== expect.tenant || claims.principal !== expect.principal) {
    throw forbidden(
      'token: this confirmation was given to another principal or for another tenant; preview the change yourself',
    );
  }
  return claims;
}

/** The installation's key for confirmations (created by migration 0007); never logged. */
export async function confirmationKey(db: Kysely<Database>): Promise<string> {
  const row = await db
    .selectFrom('server_keys')
    .select('secret')
    .where('name', '=', 'bulk_confirmation')
    .executeTakeFirst();
  if (!row) throw new Error('server key bulk_confirmation is missing (migration 0007 did not run)');
  return row.secret;
}
