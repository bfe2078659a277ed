/**
 * Enrolment (POST /api/v1/agents/enroll, public and rate-limited): an agent shows an enrolment token and proves it
 * holds the private key of the public key it enrols (a signature over enrollSigningBytes(token id, public key)).
 * In one transaction: one use of the token is taken (atomically, so a token with N uses enrols at most N agents),
 * the agent is stored with its first device certificate, its asset is created (id = agent id, name = hostname, the
 * token's site, source `agent`, empty facts until the first inventory), with the audit record and the events
 * `agent.changed {action: 'enrolled'}` and `asset.changed`.
 *
 * Identity is the key: two clones of one machine enrolling with one token, each with its own key, are two agents;
 * a key already enrolled is a 409. A stranger learns nothing about a token beyond "invalid or expired".
 */
import type { KeyObject } from 'node:crypto';
import { enrollSigningBytes, publicKeyFromRaw, verifyBytes } from '../../api/agent-protocol.js';
import type { EnrollBody, EnrollResult } from '../../api/index.js';
import type { AssetRepository } from '../assets/repository.js';
import { queueAudit } from '../audit/log.js';
import { fingerprint, sameSecret } from '../auth/secrets.js';
import type { Db } from '../db/connect.js';
import { isForeignKeyViolation, isUniqueViolation } from '../db/errors.js';
import { ApiError, badRequest, conflict } from '../errors.js';
import { queueEvents } from '../events/index.js';
import { canonicalHash, type ExposureService } from '../exposure/service.js';
import { TenantScope } from '../scope.js';
import { type AgentCa, issueWith } from './ca.js';
import type { AgentKeys } from './keys.js';
import { type AgentRepository, keyFingerprint } from './repository.js';
import { parseEnrollToken, randomChars } from './tokens.js';

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** `ag-` + 16 of [a-z0-9]. */
export function newAgentId(): string {
  return `ag-${randomChars(16, LOWER_ALNUM)}`;
}

const invalidToken = () =>
  new ApiError(
    401,
    'unauthorized',
    'token: the enrolment token is invalid or expired; ask for a new one (bulwark agent token)',
  );

export class EnrollService {
  constructor(
    private readonly db: Db,
    private readonly deps: {
      agents: AgentRepository;
      assets: AssetRepository;
      exposure: ExposureService;
      keys: AgentKeys;
      ca: AgentCa;
      certDays: number;
      heartbeatS: number;
    },
  ) {}

  async enroll(body: EnrollBody): Promise<EnrollResult> {
    const { agents, assets, exposure, keys, ca } = this.deps;
    const parsed = parseEnrollToken(body.token);
    if (!parsed) throw invalidToken();
    let key: KeyObject;
    try {
      key = publicKeyFromRaw(body.public_key);
    } catch {
      throw badRequest('public_key: not an Ed25519 public key (raw 32 bytes, base64url)');
    }
    if (!verifyBytes(key, enrollSigningBytes(parsed.id, body.public_key), body.proof))
      throw new ApiError(
        401,
        'unauthorized',
        'proof: the signature does not verify with public_key; sign enrollSigningBytes(token id, public_key) with the agent key',
      );
    // The public route has no principal: the token names the tenant, and everything after works in that tenant.
    const all = TenantScope.everyTenant;
    const token = await agents.tokenById(all, this.db.kysely, parsed.id);
    if (!token || !sameSecret(fingerprint(parsed.secret), token.secret_hash)) throw invalidToken();
    const tenantId = token.tenant_id;
    const scope = TenantScope.of({ all: false, tenantId });
    const now = new Date();
    const at = now.toISOString();
    if (token.revoked_at || token.expires_at <= at || token.uses >= token.uses_allowed) throw invalidToken();

    // Keys first, outside the transaction (the first enrolment of an installation makes them).
    const [material, serverKeys] = await Promise.all([ca.ca(), keys.serverKeys()]);
    const agentId = newAgentId();
    const cert = issueWith(material, {
      tenantId,
      agentId,
      publicKey: body.public_key,
      days: this.deps.certDays,
      now,
    });
    const facts = {
      id: agentId,
      name: body.hostname,
      tenant: tenantId,
      products: [],
      installed_kbs: [],
      endpoints: [],
      tags: [],
    };
    const alreadyEnrolled = () =>
      conflict(
        'public_key: this key is already enrolled; an agent enrols once — make a new key to enrol again',
      );
    try {
      await this.db.kysely.transaction().execute(async (trx) => {
        if (await agents.publicKeyEnrolled(trx, body.public_key)) throw alreadyEnrolled();
        if (!(await agents.useToken(scope, trx, tenantId, token.id, at))) throw invalidToken();
        await agents.insertAgent(scope, trx, {
          tenant_id: tenantId,
          id: agentId,
          site_id: token.site_id,
          public_key: body.public_key,
          hostname: body.hostname,
          os: body.os ?? null,
          version: body.version,
          state: 'active',
          state_reason: null,
          generation: 0,
          pending_generation: null,
          cert_serial: cert.serial,
          cert_not_after: cert.notAfter,
          enrolled_at: at,
          token_id: token.id,
          last_seen_at: null,
          online: 0,
          connected_replica: null,
          connected_at: null,
          inventory_hash: null,
          inventory_at: null,
          updated_at: at,
        });
        await agents.insertCertificate(scope, trx, {
          serial: cert.serial,
          tenant_id: tenantId,
          agent_id: agentId,
          not_before: cert.notBefore,
          not_after: cert.notAfter,
          revoked_at: null,
        });
        const batch = exposure.batch(trx);
        assets.queueUpsert(
          scope,
          batch,
          tenantId,
          [
            {
              tenant_id: tenantId,
              id: agentId,
              site_id: token.site_id,
              name: body.hostname,
              facts: JSON.stringify(facts),
              facts_hash: canonicalHash(facts),
              source: 'agent',
              created_at: at,
              updated_at: at,
            },
          ],
          true,
        );
        queueAudit(batch, {
          actor: `enrolment:${token.id}`,
          tenantId,
          action: 'agent.enroll',
          target: `agent:${tenantId}/${agentId}`,
          detail: {
            hostname: body.hostname,
            site: token.site_id,
            version: body.version,
            key_fingerprint: keyFingerprint(body.public_key),
            cert_serial: cert.serial,
          },
        });
        queueEvents(batch, [
          {
            type: 'agent.changed',
            tenantId,
            subject: `agent:${agentId}`,
            data: { agent_id: agentId, action: 'enrolled' },
          },
          { type: 'asset.changed', tenantId, subject: `asset:${agentId}`, data: { asset_id: agentId } },
        ]);
        await batch.flush();
      });
    } catch (err) {
      // Two enrolments of one key at once: the second meets the unique key.
      if (isUniqueViolation(err)) throw alreadyEnrolled();
      // The tenant was removed since the token was read.
      if (isForeignKeyViolation(err)) throw invalidToken();
      throw err;
    }
    return {
      agent_id: agentId,
      tenant_id: tenantId,
      site_id: token.site_id,
      asset_id: agentId,
      certificate_pem: cert.pem,
      ca_certificate_pem: material.certificatePem,
      server_keys: serverKeys,
      heartbeat_s: this.deps.heartbeatS,
      generation: 0,
    };
  }
}
