/**
 * The agent channel's contract: the signed job envelope, the signed result, the WebSocket messages both ends
 * exchange, and the byte strings each signature covers. Server (src/server/agents) and agent (src/agent) use
 * only this module to speak to each other.
 *
 * Not exported from src/api/index.ts: it uses node:crypto, and the console bundles src/api for the browser.
 *
 * Every signature is Ed25519 over `<domain>\n<canonical JSON>` (or the listed fields joined by `\n`), so a
 * signature made for one purpose can never be replayed as another.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';

export const AGENT_PROTOCOL_VERSION = 1;
/** The channel's path on the server (WebSocket upgrade). */
export const AGENT_CHANNEL_PATH = '/api/v1/agents/channel';
/** Largest WebSocket message either end accepts (a full inventory of a large host fits). */
export const AGENT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export const JOB_KINDS = ['inventory', 'hunt', 'mitigate', 'rollback', 'verify'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export const JobKindName = Type.Union(JOB_KINDS.map((k) => Type.Literal(k)));

/** Signature domains: the first line of every signed byte string. */
export const SIGNING_DOMAINS = {
  job: 'bulwark-job-v1',
  result: 'bulwark-result-v1',
  enroll: 'bulwark-enroll-v1',
  channelAgent: 'bulwark-channel-agent-v1',
  channelServer: 'bulwark-channel-server-v1',
} as const;

/** What the server signs for one job on one agent. Every field is covered by the signature. */
export const JobEnvelope = Type.Object(
  {
    v: Type.Literal(AGENT_PROTOCOL_VERSION),
    job_id: Type.String({ minLength: 1, maxLength: 100 }),
    agent_id: Type.String({ minLength: 1, maxLength: 100 }),
    tenant_id: Type.String({ minLength: 1, maxLength: 100 }),
    kind: JobKindName,
    params: Type.Record(Type.String(), Type.Unknown(), {
      description: "the kind's parameters (JSON object)",
    }),
    script_sha256: Type.Optional(
      Type.String({
        pattern: '^[0-9a-f]{64}$',
        description: 'SHA-256 of any script or installer the job runs',
      }),
    ),
    not_before: Type.String({ description: 'ISO-8601 UTC; the agent refuses the job before this time' }),
    expires_at: Type.String({ description: 'ISO-8601 UTC; the agent refuses the job after this time' }),
    nonce: Type.String({
      minLength: 16,
      maxLength: 64,
      description: 'random, base64url; refused if seen before',
    }),
    key_id: Type.String({ minLength: 1, maxLength: 100, description: 'which server signing key signed it' }),
  },
  { additionalProperties: false },
);
export type JobEnvelope = Static<typeof JobEnvelope>;

export const SignedJob = Type.Object(
  {
    envelope: JobEnvelope,
    signature: Type.String({ description: 'base64url Ed25519 over jobSigningBytes' }),
  },
  { additionalProperties: false },
);
export type SignedJob = Static<typeof SignedJob>;

export const RESULT_STATUSES = ['succeeded', 'failed', 'refused'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

/** Why an agent refused a job: each check the agent makes has its reason. */
export const REFUSAL_REASONS = [
  'bad_signature',
  'unknown_key',
  'malformed',
  'not_yet_valid',
  'expired',
  'replayed',
  'foreign_agent',
  'foreign_tenant',
  'unsupported_kind',
  'script_mismatch',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** What the agent signs when a job ends (or is refused). */
export const JobResult = Type.Object(
  {
    v: Type.Literal(AGENT_PROTOCOL_VERSION),
    job_id: Type.String({ minLength: 1, maxLength: 100 }),
    agent_id: Type.String({ minLength: 1, maxLength: 100 }),
    status: Type.Union(RESULT_STATUSES.map((s) => Type.Literal(s))),
    reason: Type.Optional(
      Type.String({
        maxLength: 2000,
        description: 'failed/refused: why, one line (a RefusalReason for refused)',
      }),
    ),
    output: Type.Optional(Type.Unknown({ description: "the kind's output (JSON)" })),
    started_at: Type.Optional(Type.String()),
    finished_at: Type.String(),
  },
  { additionalProperties: false },
);
export type JobResult = Static<typeof JobResult>;

export const SignedResult = Type.Object(
  { result: JobResult, signature: Type.String({ description: 'base64url Ed25519 over resultSigningBytes' }) },
  { additionalProperties: false },
);
export type SignedResult = Static<typeof SignedResult>;

// ---------------------------------------------------------------------------------------------------------------
// Channel messages. JSON text frames; `t` names the message.

/** server → agent, first frame: prove you hold the agent key; `server_signature` proves the server holds its key. */
export const ChallengeMessage = Type.Object({
  t: Type.Literal('challenge'),
  nonce: Type.String(),
  server_time: Type.String(),
  key_id: Type.String(),
  server_signature: Type.String({
    description: 'base64url Ed25519 over channelServerBytes(client_nonce, nonce)',
  }),
});
/** agent → server, answer to the challenge. */
export const HelloMessage = Type.Object({
  t: Type.Literal('hello'),
  agent_id: Type.String(),
  generation: Type.Integer({ minimum: 0 }),
  signature: Type.String({
    description: 'base64url Ed25519 over channelAgentBytes(nonce, agent_id, generation)',
  }),
  version: Type.String({ maxLength: 50 }),
});
/** server → agent: accepted; store `generation` durably, then answer `generation_saved`. */
export const WelcomeMessage = Type.Object({
  t: Type.Literal('welcome'),
  agent_id: Type.String(),
  generation: Type.Integer({ minimum: 1 }),
  heartbeat_s: Type.Integer({ minimum: 1 }),
  server_time: Type.String(),
  /** Present when the device certificate should be renewed now (agent answers `renew`). */
  renew_certificate: Type.Optional(Type.Boolean()),
  /** Present when the server has no inventory, or not the one with this hash: send a full report. */
  inventory_hash: Type.Union([Type.String(), Type.Null()]),
});
export const GenerationSavedMessage = Type.Object({
  t: Type.Literal('generation_saved'),
  generation: Type.Integer({ minimum: 1 }),
});
/** agent → server every heartbeat_s; the server answers `heartbeat_ack` with the same seq. */
export const HeartbeatMessage = Type.Object({
  t: Type.Literal('heartbeat'),
  seq: Type.Integer({ minimum: 0 }),
});
export const HeartbeatAckMessage = Type.Object({
  t: Type.Literal('heartbeat_ack'),
  seq: Type.Integer({ minimum: 0 }),
});
/** server → agent: a job to run. */
export const JobMessage = Type.Object({ t: Type.Literal('job'), job: SignedJob });
/** agent → server: the job was received and stored in the local queue / started / progressed. */
export const JobStatusMessage = Type.Object({
  t: Type.Literal('job_status'),
  job_id: Type.String(),
  state: Type.Union([Type.Literal('received'), Type.Literal('running')]),
  progress: Type.Optional(
    Type.Object({
      done: Type.Integer({ minimum: 0 }),
      total: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    }),
  ),
  message: Type.Optional(Type.String({ maxLength: 500 })),
});
/** agent → server: a job ended or was refused; the server answers `result_ack`. */
export const JobResultMessage = Type.Object({ t: Type.Literal('job_result'), result: SignedResult });
export const ResultAckMessage = Type.Object({ t: Type.Literal('result_ack'), job_id: Type.String() });
/**
 * agent → server: inventory. `full` carries the whole facts; `diff` carries changes against the report whose hash
 * is `base_hash` (the server answers `inventory_ack` with `ok: false, need: 'full'` when it does not hold it).
 * `hash` is the SHA-256 hex of the canonical JSON of the full facts after the change.
 */
export const InventoryMessage = Type.Object({
  t: Type.Literal('inventory'),
  mode: Type.Union([Type.Literal('full'), Type.Literal('diff')]),
  hash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  base_hash: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
  facts: Type.Optional(Type.Unknown({ description: 'mode full: the AssetFacts' })),
  diff: Type.Optional(Type.Unknown({ description: 'mode diff: the InventoryDiff (src/agent/inventory)' })),
});
export const InventoryAckMessage = Type.Object({
  t: Type.Literal('inventory_ack'),
  hash: Type.String(),
  ok: Type.Boolean(),
  need: Type.Optional(Type.Literal('full')),
});
/** agent → server: issue a fresh device certificate for my key; server answers `certificate`. */
export const RenewMessage = Type.Object({ t: Type.Literal('renew') });
export const CertificateMessage = Type.Object({
  t: Type.Literal('certificate'),
  certificate_pem: Type.String(),
});
/**
 * server → agent, then close: the agent is revoked or quarantined (its key was used from two places). The agent
 * stops and does not reconnect: a quarantined or revoked machine needs a new enrolment, never a loop.
 */
export const ClosingMessage = Type.Object({
  t: Type.Union([Type.Literal('revoked'), Type.Literal('quarantined')]),
  reason: Type.String(),
});
/** either side: a message the other end could not accept; `fatal` closes the channel. */
export const ErrorMessage = Type.Object({
  t: Type.Literal('error'),
  message: Type.String({ maxLength: 500 }),
  fatal: Type.Optional(Type.Boolean()),
});

/** WebSocket close codes with a meaning to the agent. */
export const CLOSE_CODES = {
  /** revoked or quarantined: do not reconnect. */
  stop: 4403,
  /** bad handshake (signature, generation, unknown agent): re-check state, back off. */
  unauthorized: 4401,
  /** the server is shedding load (connection rate): back off with jitter. */
  busy: 4429,
  /** a half-open peer: no heartbeat in two intervals. */
  heartbeatTimeout: 4408,
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Canonical bytes and signatures.

/**
 * Canonical JSON: object keys sorted by UTF-16 code unit, no whitespace, `undefined` members dropped, numbers as
 * JSON.stringify writes them. Both ends sign and verify these bytes, so key order in transit does not matter.
 * Throws on values JSON cannot carry (functions, symbols, bigint, non-finite numbers, cycles).
 */
export function canonicalJson(value: unknown): string {
  const seen = new Set<object>();
  const walk = (v: unknown): string => {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return JSON.stringify(v);
      case 'number':
        if (!Number.isFinite(v)) throw new TypeError('canonicalJson: non-finite number');
        return JSON.stringify(v);
      case 'object': {
        if (seen.has(v as object)) throw new TypeError('canonicalJson: cycle');
        seen.add(v as object);
        let out: string;
        if (Array.isArray(v)) out = `[${v.map((x) => (x === undefined ? 'null' : walk(x))).join(',')}]`;
        else {
          const o = v as Record<string, unknown>;
          const keys = Object.keys(o)
            .filter((k) => o[k] !== undefined)
            .sort();
          out = `{${keys.map((k) => `${JSON.stringify(k)}:${walk(o[k])}`).join(',')}}`;
        }
        seen.delete(v as object);
        return out;
      }
      default:
        throw new TypeError(`canonicalJson: cannot encode a ${typeof v}`);
    }
  };
  return walk(value);
}

export function jobSigningBytes(envelope: JobEnvelope): Buffer {
  return Buffer.from(`${SIGNING_DOMAINS.job}\n${canonicalJson(envelope)}`, 'utf8');
}
export function resultSigningBytes(result: JobResult): Buffer {
  return Buffer.from(`${SIGNING_DOMAINS.result}\n${canonicalJson(result)}`, 'utf8');
}
/** What the agent signs at enrolment: proof it holds the key it asks a certificate for. */
export function enrollSigningBytes(tokenId: string, publicKey: string): Buffer {
  return Buffer.from(`${SIGNING_DOMAINS.enroll}\n${tokenId}\n${publicKey}`, 'utf8');
}
export function channelAgentBytes(nonce: string, agentId: string, generation: number): Buffer {
  return Buffer.from(`${SIGNING_DOMAINS.channelAgent}\n${nonce}\n${agentId}\n${generation}`, 'utf8');
}
export function channelServerBytes(clientNonce: string, nonce: string): Buffer {
  return Buffer.from(`${SIGNING_DOMAINS.channelServer}\n${clientNonce}\n${nonce}`, 'utf8');
}

/** An Ed25519 public key as the protocol carries it: the raw 32 bytes, base64url. */
export function publicKeyToRaw(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' }) as { x?: string; crv?: string };
  if (jwk.crv !== 'Ed25519' || !jwk.x) throw new TypeError('expected an Ed25519 key');
  return jwk.x;
}
export function publicKeyFromRaw(raw: string): KeyObject {
  if (!/^[A-Za-z0-9_-]{43}$/.test(raw))
    throw new TypeError('expected a base64url Ed25519 public key (43 characters)');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw }, format: 'jwk' });
}
export function privateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey(pem);
}

export function signBytes(privateKey: KeyObject, bytes: Buffer): string {
  return sign(null, bytes, privateKey).toString('base64url');
}
/** False for any malformed signature, never a throw. */
export function verifyBytes(publicKey: KeyObject, bytes: Buffer, signature: string): boolean {
  if (typeof signature !== 'string' || !/^[A-Za-z0-9_-]{86}$/.test(signature)) return false;
  try {
    return verify(null, bytes, publicKey, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}
