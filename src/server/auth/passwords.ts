/**
 * Password hashing with scrypt (Node's crypto; memory-hard, no native dependency). The stored form names its
 * parameters, so they can be raised later without invalidating existing hashes.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

const N = 1 << 15;
const R = 8;
const P = 1;
const KEY_LEN = 32;
/** scrypt needs 128 * N * r bytes; leave headroom above that. */
const MAX_MEM = 64 * 1024 * 1024;

export const MIN_PASSWORD_LENGTH = 12;
/** Longer input is refused: hashing megabytes would be a cheap denial of service. */
export const MAX_PASSWORD_LENGTH = 256;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEY_LEN, { N: n, r, p, maxmem: MAX_MEM }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!(n > 1 && n <= 1 << 20 && r > 0 && r <= 32 && p > 0 && p <= 16)) return false;
  const expected = Buffer.from(parts[5] ?? '', 'base64url');
  if (expected.length !== KEY_LEN || password.length > MAX_PASSWORD_LENGTH) return false;
  const key = await derive(password, Buffer.from(parts[4] ?? '', 'base64url'), n, r, p);
  return timingSafeEqual(key, expected);
}

/** Why a new password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  if (looksLikePlaceholder(password)) {
    return 'looks like a placeholder or an example (<…>, an unexpanded $VARIABLE, changeme, password…); choose a password of your own';
  }
  return undefined;
}

/** Words that mark a password copied from a template or a document, compared without case or punctuation. */
const PLACEHOLDER_WORDS = [
  'changeme',
  'changethis',
  'replaceme',
  'yourpassword',
  'mypassword',
  'examplepassword',
  'placeholder',
  '12characters',
];

/**
 * A password someone pasted without filling in: a `<…>` placeholder (the setup command once printed
 * `<12+ characters>`, and a command pasted unchanged created an administrator with that publicly known password),
 * a shell or template variable that was never expanded, or a well-known stand-in. Refused for every new password.
 */
export function looksLikePlaceholder(password: string): boolean {
  const p = password.trim();
  if (/^<.*>$/s.test(p) || /^\[.*\]$/s.test(p)) return true;
  if (/^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/.test(p) || /^(\{\{.*\}\}|%[A-Za-z_]+%)$/s.test(p)) return true;
  const letters = p.toLowerCase().replace(/[^a-z0-9]/g, '');
  return letters.startsWith('password') || PLACEHOLDER_WORDS.some((w) => letters.includes(w));
}

/** A hash of a random password: login against a missing user costs the same time as against a real one. */
let dummy: Promise<string> | undefined;
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  return dummy;
}
