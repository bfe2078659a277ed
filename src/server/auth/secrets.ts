/** Random secrets and their stored fingerprints: session ids, CSRF tokens, API tokens, the setup token. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** SHA-256 hex. Enough for high-entropy secrets (never for passwords, which use scrypt). */
export function fingerprint(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** API tokens read `bwk_<id>_<secret>`: the id finds the row, the secret is compared by fingerprint. */
export const TOKEN_PREFIX = 'bwk_';

export function newApiToken(): { id: string; secret: string; token: string } {
  const id = randomBytes(9).toString('base64url').replace(/[-_]/g, 'x');
  const secret = randomSecret(32);
  return { id, secret, token: `${TOKEN_PREFIX}${id}_${secret}` };
}

export function parseApiToken(token: string): { id: string; secret: string } | undefined {
  const m = /^bwk_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}
