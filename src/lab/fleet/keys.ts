/**
 * Simulated agents' Ed25519 keys, derived rather than stored: agent i's private key is the 32-byte seed
 * HMAC-SHA256(fleet secret, i). A fleet of 100,000 agents keeps one secret instead of 100,000 key objects; a key
 * is rebuilt (about 20 µs) only when the agent signs. The secret is random per fleet, so two runs never share keys.
 */
import { createHmac, createPrivateKey, createPublicKey, type KeyObject, randomBytes } from 'node:crypto';
import { publicKeyToRaw } from '../../api/agent-protocol.js';

/** PKCS#8 DER of an Ed25519 private key, up to its 32-byte seed (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export class DerivedKeys {
  readonly #secret: Buffer;

  constructor(secret: Buffer = randomBytes(32)) {
    if (secret.length < 16) throw new TypeError('fleet key secret: at least 16 bytes');
    this.#secret = secret;
  }

  privateKey(index: number): KeyObject {
    const seed = createHmac('sha256', this.#secret).update(`agent:${index}`).digest();
    return createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
      format: 'der',
      type: 'pkcs8',
    });
  }

  /** The public key as the protocol carries it (raw 32 bytes, base64url). */
  publicKeyRaw(index: number): string {
    return publicKeyToRaw(createPublicKey(this.privateKey(index)));
  }
}
