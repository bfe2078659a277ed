/**
 * Inbound channel frames: JSON text checked against the message schemas of src/api/agent-protocol.ts. Anything
 * else is one error naming what is wrong; parsing never throws.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import {
  type ErrorMessage,
  ErrorMessage as ErrorSchema,
  GenerationSavedMessage,
  HeartbeatMessage,
  HelloMessage,
  InventoryMessage,
  JobResultMessage,
  JobStatusMessage,
  RenewMessage,
} from '../../../api/agent-protocol.js';

const INBOUND = {
  hello: HelloMessage,
  generation_saved: GenerationSavedMessage,
  heartbeat: HeartbeatMessage,
  job_status: JobStatusMessage,
  job_result: JobResultMessage,
  inventory: InventoryMessage,
  renew: RenewMessage,
  error: ErrorSchema,
} as const;

export type InboundType = keyof typeof INBOUND;
export type Inbound = { [K in InboundType]: Static<(typeof INBOUND)[K]> }[InboundType];
export type InboundOf<K extends InboundType> = Static<(typeof INBOUND)[K]>;
export type { ErrorMessage };

const checks = new Map<string, TypeCheck<TSchema>>();
for (const [t, schema] of Object.entries(INBOUND)) checks.set(t, TypeCompiler.Compile(schema as TSchema));

export type Parsed = { ok: true; message: Inbound } | { ok: false; error: string };

/** Parses one frame. Binary frames, invalid JSON, unknown `t` and schema mismatches are errors. */
export function parseFrame(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): Parsed {
  if (isBinary) return { ok: false, error: 'binary frames are not accepted; send JSON text' };
  const text = Array.isArray(data)
    ? Buffer.concat(data).toString('utf8')
    : Buffer.isBuffer(data)
      ? data.toString('utf8')
      : Buffer.from(data).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: 'the frame is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, error: 'a message is a JSON object with a field t' };
  const t = (value as { t?: unknown }).t;
  if (typeof t !== 'string') return { ok: false, error: 't: missing; a message names its type in t' };
  const check = checks.get(t);
  if (!check) return { ok: false, error: `t: "${t.slice(0, 40)}" is not a message the server accepts` };
  if (!check.Check(value)) {
    const first = check.Errors(value).First();
    const where = first?.path ? first.path.slice(1).replaceAll('/', '.') : t;
    return { ok: false, error: `${t}: ${where}: ${first?.message ?? 'invalid'}`.slice(0, 500) };
  }
  return { ok: true, message: value as Inbound };
}
