/**
 * Enrolment tokens: short-lived, scoped to one tenant (and optionally a site), usable N times, revocable. The text
 * is `bwe_<id>_<secret>` (id 12 of [A-Za-z0-9], secret 43 base64url); only the secret's SHA-256 is stored, and the
 * text is shown once, in the answer that creates it.
 */
import { randomBytes } from 'node:crypto';
import {
  type AgentToken,
  type AgentTokenCreate,
  type AgentTokenCreated,
  DEFAULT_TOKEN_TTL_S,
} from '../../api/index.js';
import { appendAudit } from '../audit/log.js';
import { fingerprint, randomSecret } from '../auth/secrets.js';
import type { Actor } from '../context.js';
import type { Db } from '../db/connect.js';
import { badRequest } from '../errors.js';
import type { TenantScope } from '../scope.js';
import type { TenantRepository } from '../tenants/repository.js';
import type { AgentRepository } from './repository.js';

export const ENROLL_TOKEN_PREFIX = 'bwe_';
const TOKEN_RE = /^bwe_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `n` characters of [A-Za-z0-9] (or of `alphabet`), uniformly random. */
export function randomChars(n: number, alphabet = ALNUM): string {
  let out = '';
  while (out.length < n) {
    for (const b of randomBytes(n * 2)) {
      // Rejection sampling: no bias towards the first characters of the alphabet.
      if (b < 256 - (256 % alphabet.length)) out += alphabet[b % alphabet.length];
      if (out.length === n) break;
    }
  }
  return out;
}

export function newEnrollToken(): { id: string; secret: string; token: string } {
  const id = randomChars(12);
  const secret = randomSecret(32);
  return { id, secret, token: `${ENROLL_TOKEN_PREFIX}${id}_${secret}` };
}

export function parseEnrollToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

export class AgentTokenService {
  constructor(
    private readonly db: Db,
    private readonly tenants: TenantRepository,
    private readonly agents: AgentRepository,
  ) {}

  list(scope: TenantScope, tenantId: string): Promise<AgentToken[]> {
    return this.agents.listTokens(scope, tenantId);
  }

  async create(
    scope: TenantScope,
    tenantId: string,
    body: AgentTokenCreate,
    actor: Actor,
  ): Promise<AgentTokenCreated> {
    await this.tenants.require(scope, tenantId);
    if (body.site && !(await this.tenants.siteExists(scope, this.db.kysely, tenantId, body.site)))
      throw badRequest(`site: ${body.site} does not exist in tenant ${tenantId}; create it first`);
    const { id, secret, token } = newEnrollToken();
    const now = Date.now();
    const row = {
      tenant_id: tenantId,
      id,
      site_id: body.site ?? null,
      secret_hash: fingerprint(secret),
      uses_allowed: body.uses ?? 1,
      uses: 0,
      note: body.note ?? null,
      expires_at: new Date(now + (body.ttl_s ?? DEFAULT_TOKEN_TTL_S) * 1000).toISOString(),
      revoked_at: null,
      created_by: actor.name,
      created_at: new Date(now).toISOString(),
    };
    const created = await this.db.kysely.transaction().execute(async (trx) => {
      const stored = await this.agents.insertToken(scope, trx, row);
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId,
        action: 'agent_token.create',
        target: `agent_token:${tenantId}/${id}`,
        detail: { site: row.site_id, uses_allowed: row.uses_allowed, expires_at: row.expires_at },
      });
      return stored;
    });
    return { ...created, token };
  }

  async revoke(scope: TenantScope, tenantId: string, id: string, actor: Actor): Promise<AgentToken> {
    const at = new Date().toISOString();
    return this.db.kysely.transaction().execute(async (trx) => {
      const token = await this.agents.revokeToken(scope, trx, tenantId, id, at);
      await appendAudit(trx, this.db.dialect, {
        actor: actor.name,
        tenantId,
        action: 'agent_token.revoke',
        target: `agent_token:${tenantId}/${id}`,
      });
      return token;
    });
  }
}
