/**
 * Agents over REST: enrolment tokens, enrolment, the agent list and identity, revocation, and agent jobs (one signed
 * envelope per agent; the channel delivers them, see agent-protocol.ts). Wire format snake_case.
 */
import { type Static, Type } from '@sinclair/typebox';
import { CursorParam, cursorPageOf, Id, PageParams } from './schemas.js';

const Timestamp = Type.String({ description: 'ISO-8601 UTC' });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);

/** Job kinds an agent runs (the same list as agent-protocol.ts JOB_KINDS, which the console cannot import). */
export const AGENT_JOB_KINDS = ['inventory', 'hunt', 'mitigate', 'rollback', 'verify'] as const;
export type AgentJobKind = (typeof AGENT_JOB_KINDS)[number];
export const AgentJobKindName = Type.Union(AGENT_JOB_KINDS.map((k) => Type.Literal(k)));

export const AGENT_STATES = ['active', 'quarantined', 'revoked'] as const;
export type AgentStateName = (typeof AGENT_STATES)[number];
export const AgentState = Type.Union(
  AGENT_STATES.map((s) => Type.Literal(s)),
  {
    description: 'active; quarantined (its key was used from two places, or its files were cloned); revoked',
  },
);

export const AGENT_JOB_STATES = [
  'queued',
  'delivered',
  'received',
  'running',
  'succeeded',
  'failed',
  'refused',
  'expired',
  'cancelled',
] as const;
export type AgentJobStateName = (typeof AGENT_JOB_STATES)[number];
/** States an agent job never leaves. */
export const FINISHED_AGENT_JOB_STATES: readonly AgentJobStateName[] = [
  'succeeded',
  'failed',
  'refused',
  'expired',
  'cancelled',
];
export const AgentJobState = Type.Union(
  AGENT_JOB_STATES.map((s) => Type.Literal(s)),
  {
    description:
      'queued → delivered (sent on the channel) → received (stored by the agent) → running → succeeded | failed | refused; expired when not finished by expires_at; cancelled',
  },
);

/** Enrolment token text: `bwe_<id 12>_<secret 43>`. */
export const ENROLL_TOKEN_PATTERN = '^bwe_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$';
export const MAX_TOKEN_USES = 100_000;
export const MIN_TOKEN_TTL_S = 60;
export const MAX_TOKEN_TTL_S = 2_592_000;
export const DEFAULT_TOKEN_TTL_S = 3600;
export const MAX_JOB_AGENTS = 1000;
export const MIN_JOB_TTL_S = 60;
export const MAX_JOB_TTL_S = 2_592_000;
export const DEFAULT_JOB_TTL_S = 86_400;
export const AGENT_FAN_OUT_JOB = 'agents.fan_out';

// ---------------------------------------------------------------------------------------------------------------
// Enrolment tokens

export const AgentTokenCreate = Type.Object(
  {
    site: Type.Optional(Id),
    uses: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_TOKEN_USES, description: 'enrolments it allows (default 1)' }),
    ),
    ttl_s: Type.Optional(
      Type.Integer({
        minimum: MIN_TOKEN_TTL_S,
        maximum: MAX_TOKEN_TTL_S,
        description: `seconds it is valid (default ${DEFAULT_TOKEN_TTL_S})`,
      }),
    ),
    note: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type AgentTokenCreate = Static<typeof AgentTokenCreate>;

export const AgentToken = Type.Object({
  id: Type.String(),
  tenant_id: Type.String(),
  site_id: NullableString,
  uses_allowed: Type.Integer(),
  uses: Type.Integer({ description: 'enrolments made with it so far' }),
  note: NullableString,
  expires_at: Timestamp,
  revoked_at: NullableTimestamp,
  created_by: Type.String(),
  created_at: Timestamp,
});
export type AgentToken = Static<typeof AgentToken>;

export const AgentTokenCreated = Type.Composite([
  AgentToken,
  Type.Object({
    token: Type.String({ description: 'the token text, shown only in this answer: bwe_<id>_<secret>' }),
  }),
]);
export type AgentTokenCreated = Static<typeof AgentTokenCreated>;

export const AgentTokenList = Type.Object({ items: Type.Array(AgentToken) });
export type AgentTokenList = Static<typeof AgentTokenList>;

export const AgentTokenParams = Type.Object({ tenant: Id, token: Id });
export type AgentTokenParams = Static<typeof AgentTokenParams>;

// ---------------------------------------------------------------------------------------------------------------
// Enrolment (public)

export const EnrollBody = Type.Object(
  {
    token: Type.String({ maxLength: 200, description: 'the enrolment token text' }),
    public_key: Type.String({
      pattern: '^[A-Za-z0-9_-]{43}$',
      description: "the agent's Ed25519 public key, raw 32 bytes base64url",
    }),
    proof: Type.String({
      maxLength: 200,
      description: 'base64url Ed25519 signature over enrollSigningBytes(token id, public_key)',
    }),
    hostname: Type.String({ minLength: 1, maxLength: 255 }),
    os: Type.Optional(Type.String({ maxLength: 100 })),
    version: Type.String({ minLength: 1, maxLength: 50 }),
  },
  { additionalProperties: false },
);
export type EnrollBody = Static<typeof EnrollBody>;

export const ServerSigningKey = Type.Object({
  key_id: Type.String(),
  public_key: Type.String({ description: 'raw Ed25519 public key, base64url' }),
});

export const EnrollResult = Type.Object({
  agent_id: Type.String(),
  tenant_id: Type.String(),
  site_id: NullableString,
  asset_id: Type.String({ description: 'the asset the agent reports for (the agent id)' }),
  certificate_pem: Type.String({ description: 'the device certificate' }),
  ca_certificate_pem: Type.String({ description: "the installation's agent CA" }),
  server_keys: Type.Array(ServerSigningKey, { description: 'job-signing keys to pin' }),
  heartbeat_s: Type.Integer(),
  generation: Type.Literal(0),
});
export type EnrollResult = Static<typeof EnrollResult>;

// ---------------------------------------------------------------------------------------------------------------
// Agents

export const AgentSummary = Type.Object({
  tenant_id: Type.String(),
  id: Type.String(),
  site_id: NullableString,
  hostname: Type.String(),
  os: NullableString,
  version: Type.String(),
  state: AgentState,
  state_reason: NullableString,
  online: Type.Boolean(),
  last_seen_at: NullableTimestamp,
  enrolled_at: Timestamp,
  updated_at: Timestamp,
});
export type AgentSummary = Static<typeof AgentSummary>;

export const Agent = Type.Composite([
  AgentSummary,
  Type.Object({
    public_key: Type.String({ description: 'raw Ed25519 public key, base64url' }),
    key_fingerprint: Type.String({ description: 'SHA-256 hex of the raw public key' }),
    cert_serial: Type.String(),
    cert_not_after: Timestamp,
    generation: Type.Integer(),
    connected_at: NullableTimestamp,
    inventory_hash: NullableString,
    inventory_at: NullableTimestamp,
  }),
]);
export type Agent = Static<typeof Agent>;

export const AgentParams = Type.Object({ tenant: Id, agent: Id });
export type AgentParams = Static<typeof AgentParams>;

export const AgentListQuery = Type.Object({
  ...PageParams,
  site: Type.Optional(Id),
  state: Type.Optional(AgentState),
  online: Type.Optional(Type.Boolean()),
  cursor: CursorParam,
});
export type AgentListQuery = Static<typeof AgentListQuery>;

export const AgentPage = cursorPageOf(AgentSummary);
export type AgentPage = Static<typeof AgentPage>;

export const AgentRevokeBody = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 200 })) },
  { additionalProperties: false },
);
export type AgentRevokeBody = Static<typeof AgentRevokeBody>;

// ---------------------------------------------------------------------------------------------------------------
// Agent jobs: parameters per kind

const AdvisoryRef = Type.String({ minLength: 1, maxLength: 200 });
export const AGENT_JOB_PARAMS = {
  inventory: Type.Object({}, { additionalProperties: false }),
  hunt: Type.Object(
    {
      advisory_id: AdvisoryRef,
      since: Type.Optional(Type.String({ format: 'date-time' })),
      until: Type.Optional(Type.String({ format: 'date-time' })),
      paths: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 1000 }), { maxItems: 100 })),
      max_seconds: Type.Optional(
        Type.Integer({ minimum: 1, maximum: 86400, description: 'time bound, default 1800' }),
      ),
    },
    { additionalProperties: false },
  ),
  mitigate: Type.Object(
    { advisory_id: AdvisoryRef, mitigation_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
    { additionalProperties: false },
  ),
  rollback: Type.Object(
    { advisory_id: AdvisoryRef, mitigation_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
    { additionalProperties: false },
  ),
  verify: Type.Object(
    { advisory_id: AdvisoryRef, url: Type.Optional(Type.String({ format: 'uri', maxLength: 2000 })) },
    { additionalProperties: false },
  ),
} as const;

const JobParamsAny = Type.Record(Type.String(), Type.Unknown(), {
  description:
    "the kind's parameters: inventory {}; hunt {advisory_id, since?, until?, paths?, max_seconds?}; mitigate and rollback {advisory_id, mitigation_id?}; verify {advisory_id, url?}",
});

export const AgentJobCreate = Type.Object(
  {
    kind: AgentJobKindName,
    params: Type.Optional(JobParamsAny),
    agents: Type.Optional(Type.Array(Id, { minItems: 1, maxItems: MAX_JOB_AGENTS })),
    all: Type.Optional(
      Type.Literal(true, { description: 'every active agent of the tenant (instead of agents)' }),
    ),
    expires_in_s: Type.Optional(Type.Integer({ minimum: MIN_JOB_TTL_S, maximum: MAX_JOB_TTL_S })),
    not_before: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);
export type AgentJobCreate = Static<typeof AgentJobCreate>;

export const AgentJobRef = Type.Object({ id: Type.String(), agent_id: Type.String(), state: AgentJobState });
export const AgentJobCreated = Type.Object({ jobs: Type.Array(AgentJobRef) });
export type AgentJobCreated = Static<typeof AgentJobCreated>;

export const AgentJobProgress = Type.Object({
  done: Type.Integer({ minimum: 0 }),
  total: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  message: Type.Optional(Type.String()),
});

export const AgentJobSummary = Type.Object({
  id: Type.String(),
  tenant_id: Type.String(),
  agent_id: Type.String(),
  kind: AgentJobKindName,
  params: Type.Unknown(),
  state: AgentJobState,
  progress: Type.Union([AgentJobProgress, Type.Null()]),
  reason: NullableString,
  not_before: Timestamp,
  expires_at: Timestamp,
  created_by: Type.String(),
  created_at: Timestamp,
  updated_at: Timestamp,
  delivered_at: NullableTimestamp,
  started_at: NullableTimestamp,
  finished_at: NullableTimestamp,
  batch_id: NullableString,
});
export type AgentJobSummary = Static<typeof AgentJobSummary>;

export const AgentJob = Type.Composite([
  AgentJobSummary,
  Type.Object({
    result: Type.Union([Type.Unknown(), Type.Null()], {
      description: "the agent's signed result once it ended",
    }),
    result_signature: NullableString,
    envelope: Type.Unknown({ description: 'the signed envelope' }),
    signature: Type.String(),
  }),
]);
export type AgentJob = Static<typeof AgentJob>;

export const AgentJobParams = Type.Object({ tenant: Id, job: Id });
export type AgentJobParams = Static<typeof AgentJobParams>;

export const AgentJobListQuery = Type.Object({
  limit: PageParams.limit,
  agent: Type.Optional(Id),
  state: Type.Optional(AgentJobState),
  kind: Type.Optional(AgentJobKindName),
  cursor: CursorParam,
});
export type AgentJobListQuery = Static<typeof AgentJobListQuery>;

export const AgentJobPage = cursorPageOf(AgentJobSummary);
export type AgentJobPage = Static<typeof AgentJobPage>;

export const AgentFanOutBody = Type.Object(
  {
    kind: AgentJobKindName,
    params: Type.Optional(JobParamsAny),
    filter: Type.Object(
      {
        tenants: Type.Optional(Type.Array(Id, { minItems: 1, maxItems: 10_000 })),
        product: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 200,
            description: 'a product id the asset runs, e.g. microsoft:exchange_server',
          }),
        ),
      },
      { additionalProperties: false },
    ),
    expires_in_s: Type.Optional(Type.Integer({ minimum: MIN_JOB_TTL_S, maximum: MAX_JOB_TTL_S })),
  },
  { additionalProperties: false },
);
export type AgentFanOutBody = Static<typeof AgentFanOutBody>;

/** The fan-out platform job's result. */
export const AgentFanOutResult = Type.Object({
  agents: Type.Integer({ description: 'agents that got a job' }),
  tenants: Type.Integer(),
  batch_id: Type.String({ description: 'batch_id of every agent job it created' }),
});
export type AgentFanOutResult = Static<typeof AgentFanOutResult>;
