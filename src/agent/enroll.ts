/**
 * Enrolment: the agent makes its own Ed25519 key, proves it holds it (a signature over the token id and the
 * public key), trades a single-use enrolment token for an identity (agent id, device certificate, the server's
 * job-signing keys) and stores that identity in its state directory. The token only ever comes from a file or
 * standard input, and is never stored or logged.
 */
import { generateKeyPairSync } from 'node:crypto';
import { hostname as osHostname, type as osType, release } from 'node:os';
import { enrollSigningBytes, publicKeyToRaw, signBytes } from '../api/agent-protocol.js';
import type { EnrollBody, EnrollResult } from '../api/agents.js';
import { ApiClientError, enrollAgent } from '../api/client.js';
import { type AgentConfig, StateDir, StateError, writeFileAtomic } from './state.js';
import { AGENT_VERSION } from './version.js';

/** The enrolment token's form: `bwe_<id>_<secret>`. */
export const ENROLL_TOKEN_RE = /^bwe_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

/** An enrolment the server refused, or a server that could not be reached: one line for the user. */
export class EnrollError extends Error {
  override name = 'EnrollError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface EnrollOptions {
  server: string;
  /** The token text (read from a file or standard input by the caller). */
  token: string;
  stateDir: string;
  /** Replace an enrolled identity (the old one stays on the server until an operator revokes it). */
  force?: boolean;
  hostname?: string;
  timeoutMs?: number;
}

/** The http(s) base of a server URL as given, checked; a UsageError-like StateError otherwise. */
export function serverBase(server: string): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new EnrollError(`--server: "${server}" is not a URL; give e.g. https://bulwark.example.com`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new EnrollError(`--server: "${server}" is not an http(s) URL`);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  url.hash = '';
  return url;
}

/** POST /api/v1/agents/enroll through the typed client; its failures become one EnrollError line. */
async function postEnrollment(server: string, body: EnrollBody, timeoutMs = 30_000): Promise<EnrollResult> {
  try {
    return await enrollAgent({ baseUrl: server, timeoutMs }, body);
  } catch (err) {
    if (err instanceof ApiClientError)
      throw new EnrollError(err.status ? `enrolment refused: ${err.message}` : err.message, err.status);
    throw err;
  }
}

/** Checks the server's answer field by field before anything is stored. */
function checkAnswer(answer: EnrollResult): void {
  const bad = (field: string) => new EnrollError(`the server's enrolment answer has no valid ${field}`);
  if (!answer || typeof answer !== 'object') throw bad('body');
  for (const field of ['agent_id', 'tenant_id', 'asset_id', 'certificate_pem', 'ca_certificate_pem'] as const)
    if (typeof answer[field] !== 'string' || !answer[field]) throw bad(field);
  if (!Array.isArray(answer.server_keys) || answer.server_keys.length === 0) throw bad('server_keys');
  for (const key of answer.server_keys)
    if (typeof key?.key_id !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(key?.public_key ?? ''))
      throw bad('server_keys');
  if (!Number.isInteger(answer.heartbeat_s) || answer.heartbeat_s < 1) throw bad('heartbeat_s');
  if (!Number.isInteger(answer.generation) || answer.generation < 0) throw bad('generation');
}

/**
 * Enrols this machine: key, proof of possession, the server's answer stored in the state directory (agent.json
 * last, so a directory is enrolled only when everything else is on disk). An enrolled directory is refused
 * unless `force`.
 */
export async function enroll(options: EnrollOptions): Promise<AgentConfig> {
  const token = options.token.trim();
  const match = ENROLL_TOKEN_RE.exec(token);
  if (!match) throw new EnrollError('the token file does not hold an enrolment token (bwe_…)');
  const base = serverBase(options.server);
  const state = new StateDir(options.stateDir);
  const unlock = state.lock();
  try {
    if (state.enrolled()) {
      if (!options.force) {
        const current = state.readConfig();
        throw new StateError(
          `${state.dir} is already enrolled as ${current.agent_id} (tenant ${current.tenant_id}); give --force to replace that identity with a new one`,
        );
      }
      state.clear();
    }
    state.ensure();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = publicKeyToRaw(publicKey);
    const request: EnrollBody = {
      token,
      public_key: raw,
      proof: signBytes(privateKey, enrollSigningBytes(match[1]!, raw)),
      hostname: (options.hostname ?? osHostname()).slice(0, 255) || 'unknown',
      os: `${osType()} ${release()}`.slice(0, 100),
      version: AGENT_VERSION,
    };
    const answer = await postEnrollment(base.href, request, options.timeoutMs);
    checkAnswer(answer);
    writeFileAtomic(state.key, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
    writeFileAtomic(state.cert, answer.certificate_pem);
    writeFileAtomic(state.ca, answer.ca_certificate_pem);
    const config: AgentConfig = {
      server: base.href,
      agent_id: answer.agent_id,
      tenant_id: answer.tenant_id,
      site_id: answer.site_id ?? null,
      asset_id: answer.asset_id,
      generation: answer.generation,
      server_keys: answer.server_keys.map((k) => ({ key_id: k.key_id, public_key: k.public_key })),
      heartbeat_s: answer.heartbeat_s,
      enrolled_at: new Date().toISOString(),
    };
    state.writeConfig(config);
    return config;
  } finally {
    unlock();
  }
}
