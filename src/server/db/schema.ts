/**
 * The control plane's tables as Kysely sees them. One schema serves SQLite and PostgreSQL, so column types stay
 * portable: text ids, ISO-8601 UTC text timestamps (they sort as text), integers for flags and counters, JSON as
 * text. Every table holding customer data carries `tenant_id` leading its primary key.
 */
import type { Generated } from 'kysely';

export interface InstallationTable {
  id: number;
  name: string;
  created_at: string;
  /** SHA-256 of the one-time setup token; null once the first administrator exists. */
  setup_token_hash: string | null;
}

export interface TenantTable {
  id: string;
  name: string;
  created_at: string;
}

export interface SiteTable {
  tenant_id: string;
  id: string;
  name: string;
  created_at: string;
}

export interface AssetTable {
  tenant_id: string;
  id: string;
  site_id: string | null;
  name: string | null;
  /** The asset's facts (core AssetFacts) as JSON. */
  facts: string;
  /** SHA-256 of the canonical facts: an unchanged push writes nothing and recomputes nothing. */
  facts_hash: string;
  /** Where the facts came from: api, scan, agent, import. */
  source: string;
  created_at: string;
  updated_at: string;
}

/** Product ids an asset runs (its os and products): an advisory import only touches assets listed here. */
export interface AssetProductTable {
  tenant_id: string;
  asset_id: string;
  product: string;
}

export interface AdvisoryTable {
  id: string;
  title: string;
  /** built-in, or the import it came from. */
  source: string;
  /** The validated advisory document as JSON. */
  document: string;
  document_hash: string;
  /** Product ids the advisory has rules for, as a JSON array. */
  products: string;
  published: string | null;
  imported_at: string;
}

/** Every column of `finding_events` (a finding's history), in table order. */
export const FINDING_EVENT_COLUMNS = [
  'tenant_id',
  'asset_id',
  'cve',
  'seq',
  'at',
  'kind',
  'from_value',
  'to_value',
  'reason',
  'actor',
] as const;

/** Every column of `findings`, in table order (bulk reads and writes name them). */
export const FINDING_COLUMNS = [
  'tenant_id',
  'asset_id',
  'cve',
  'advisory_id',
  'product',
  'version',
  'verdict',
  'rule',
  'fact',
  'comparison',
  'fixes',
  'status',
  'events',
  'first_seen',
  'updated_at',
] as const;

export interface FindingTable {
  tenant_id: string;
  asset_id: string;
  cve: string;
  advisory_id: string;
  product: string;
  version: string;
  verdict: string;
  /** Provenance: the deciding rule path, the fact judged and the comparison in words. */
  rule: string;
  fact: string;
  comparison: string;
  /** Ids of the advisory's fixes that apply, as a JSON array. */
  fixes: string;
  /** Workflow state set by people: open, acknowledged, accepted_risk. */
  status: string;
  /** Number of events in its history (the next event's seq is this + 1). Findings are never deleted, only
   * judged not_affected, so the history stays whole. */
  events: number;
  first_seen: string;
  updated_at: string;
}

/** Per asset and advisory, the most cautious verdict over the advisory's CVEs. */
export interface AssetExposureTable {
  tenant_id: string;
  asset_id: string;
  advisory_id: string;
  verdict: string;
  updated_at: string;
  /** When the verdict last became affected; kept after it changes (the record that it was affected). */
  affected_at: string | null;
  /** When the verdict became fixed after having been affected; null while it is anything else. */
  patched_at: string | null;
}

/** Assets per tenant, advisory and verdict, maintained with asset_exposure. */
export interface ExposureCountTable {
  tenant_id: string;
  advisory_id: string;
  verdict: string;
  assets: number;
}

/** Every change of a finding's verdict or status, oldest first. */
export interface FindingEventTable {
  tenant_id: string;
  asset_id: string;
  cve: string;
  at: string;
  seq: number;
  kind: string;
  from_value: string | null;
  to_value: string;
  reason: string;
  actor: string;
}

export interface UserTable {
  id: string;
  email: string;
  name: string;
  /** admin, technician, read_only (operators) or customer. */
  role: string;
  /** Set for customer users: the only tenant they see. */
  tenant_id: string | null;
  password_hash: string;
  totp_secret: string | null;
  totp_enabled: number;
  /** Last TOTP time step accepted: a code is never accepted twice. */
  totp_last_step: number;
  disabled: number;
  created_at: string;
}

export interface SessionTable {
  /** SHA-256 of the cookie value; the value itself is never stored. */
  id_hash: string;
  user_id: string;
  csrf_token: string;
  created_at: string;
  expires_at: string;
  last_seen_at: string;
}

export interface ApiTokenTable {
  id: string;
  user_id: string;
  name: string;
  role: string;
  tenant_id: string | null;
  /** SHA-256 of the secret part; the token is shown once. */
  secret_hash: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface AuditLogTable {
  seq: number;
  at: string;
  actor: string;
  tenant_id: string | null;
  action: string;
  target: string;
  /** Details as canonical JSON. */
  detail: string;
  prev_hash: string;
  hash: string;
}

/** An audit record committed with its change and not yet chained into `audit_log` (see server/audit). */
export interface AuditPendingTable {
  id: Generated<number>;
  at: string;
  actor: string;
  tenant_id: string | null;
  action: string;
  target: string;
  /** Details as canonical JSON. */
  detail: string;
}

/** Advisory evaluations over the fleet: "time to know" from an import to all findings written. */
export interface ExposureRunTable {
  id: string;
  advisory_ids: string;
  trigger: string;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  assets_evaluated: number;
  findings_written: number;
}

/** Durable background work: one row per job, its lease, progress and outcome (see server/jobs). */
export interface JobTable {
  tenant_id: string | null;
  id: string;
  kind: string;
  /** The kind's parameters as JSON. */
  params: string;
  /** queued, running, succeeded, failed, cancelled, expired. */
  state: string;
  attempts: number;
  max_attempts: number;
  run_after: string;
  lease_owner: string | null;
  lease_until: string | null;
  progress_done: number;
  progress_total: number | null;
  /** The result as JSON, once succeeded. */
  result: string | null;
  /** The last failure, one line, no secrets. */
  error: string | null;
  idempotency_key: string | null;
  cancel_requested: number;
  created_by: string;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  expires_at: string | null;
}

/** Recurring jobs: the scheduler's leader enqueues `kind` every interval_seconds. */
export interface JobScheduleTable {
  name: string;
  tenant_id: string | null;
  kind: string;
  params: string;
  interval_seconds: number;
  next_run_at: string;
  created_at: string;
  updated_at: string;
}

/** The event outbox: written in the transaction of the change; `seq` is the delivery order (see server/events). */
export interface EventTable {
  /** Insertion id (PostgreSQL: from a sequence, so ids can commit out of order). */
  id: Generated<number>;
  /** Gapless position in commit order; null until the sequencer numbers the committed event (PostgreSQL). */
  seq: number | null;
  type: string;
  tenant_id: string | null;
  subject: string;
  /** The event's data as JSON. */
  data: string;
  at: string;
}

/** Where each durable event consumer has got to: every event with seq <= this one was handled. */
export interface EventCursorTable {
  name: string;
  seq: number;
  updated_at: string;
}

/** One row (id 1): the version of the stored advisories, raised by every transaction that stores advisories. */
export interface AdvisoryVersionTable {
  id: number;
  version: number;
}

/** One observation of an asset's shield, compromise or patch state for an advisory (the response history). */
export interface ObservationTable {
  tenant_id: string;
  asset_id: string;
  advisory_id: string;
  observed_at: string;
  /** Sortable: later recorded, larger id (the tie-break between observations of the same time). */
  id: string;
  /** shield, compromise, patch. */
  kind: string;
  value: string;
  /** scan, hunt, gateway, mitigation. */
  source: string;
  window_from: string | null;
  window_to: string | null;
  /** The evidence summary as JSON; null when none was sent. */
  summary: string | null;
  actor: string;
  recorded_at: string;
}

/** Per asset and advisory, the newest observation of each kind (null columns: none yet). */
export interface AssetResponseTable {
  tenant_id: string;
  asset_id: string;
  advisory_id: string;
  shield: string | null;
  shield_at: string | null;
  shield_source: string | null;
  shield_id: string | null;
  compromise: string | null;
  compromise_at: string | null;
  compromise_source: string | null;
  compromise_id: string | null;
  patch: string | null;
  patch_at: string | null;
  patch_source: string | null;
  patch_id: string | null;
  updated_at: string;
}

/** Random keys of the installation, by name (bulk_confirmation: signs bulk-change confirmations). Never logged. */
export interface ServerKeyTable {
  name: string;
  secret: string;
  created_at: string;
}

/** Bulk-change confirmations already committed (each is used once); pruned once expired. */
export interface BulkConfirmationUsedTable {
  tenant_id: string;
  id: string;
  expires_at: string;
  used_at: string;
}

/** The board's counts per advisory and tenant as of the last recount (see server/response/dirty.ts). */
export interface BoardCountTable {
  advisory_id: string;
  tenant_id: string;
  assets: number;
  exposed: number;
  unknown_exposure: number;
  shielded: number;
  unshielded: number;
  compromised: number;
  patched: number;
  clean: number;
  not_hunted: number;
}

/** Advisory × tenant pairs whose board counts are stale; `version` grows with every mark. */
export interface BoardDirtyTable {
  advisory_id: string;
  tenant_id: string;
  version: number;
}

/** Agent enrolment tokens (server/agents/tokens.ts): the secret is kept only as its fingerprint. */
export interface AgentTokenTable {
  tenant_id: string;
  id: string;
  site_id: string | null;
  secret_hash: string;
  uses_allowed: number;
  uses: number;
  note: string | null;
  expires_at: string;
  revoked_at: string | null;
  created_by: string;
  created_at: string;
}

/** An enrolled agent; its asset has the same id. */
export interface AgentTable {
  tenant_id: string;
  id: string;
  site_id: string | null;
  /** Ed25519 public key, raw 32 bytes as base64url. */
  public_key: string;
  hostname: string;
  os: string | null;
  version: string;
  /** active, quarantined, revoked. */
  state: string;
  state_reason: string | null;
  generation: number;
  pending_generation: number | null;
  cert_serial: string;
  cert_not_after: string;
  enrolled_at: string;
  token_id: string;
  last_seen_at: string | null;
  /** 1 while a channel is connected. */
  online: number;
  connected_replica: string | null;
  connected_at: string | null;
  inventory_hash: string | null;
  inventory_at: string | null;
  updated_at: string;
}

/** Device certificates the installation CA issued. */
export interface AgentCertificateTable {
  serial: string;
  tenant_id: string;
  agent_id: string;
  not_before: string;
  not_after: string;
  revoked_at: string | null;
}

/** One signed job for one agent (src/api/agent-protocol.ts: the envelope and its signature). */
export interface AgentJobTable {
  tenant_id: string;
  id: string;
  agent_id: string;
  kind: string;
  /** The kind's parameters as JSON. */
  params: string;
  /** The signed envelope as JSON. */
  envelope: string;
  signature: string;
  /** queued, delivered, received, running, succeeded, failed, refused, expired, cancelled. */
  state: string;
  progress: string | null;
  result: string | null;
  result_signature: string | null;
  reason: string | null;
  not_before: string;
  expires_at: string;
  created_by: string;
  created_at: string;
  updated_at: string;
  delivered_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  /** The fan-out platform job that created it, if any. */
  batch_id: string | null;
}

export interface Database {
  installation: InstallationTable;
  tenants: TenantTable;
  sites: SiteTable;
  assets: AssetTable;
  asset_products: AssetProductTable;
  advisories: AdvisoryTable;
  advisory_version: AdvisoryVersionTable;
  server_keys: ServerKeyTable;
  bulk_confirmations_used: BulkConfirmationUsedTable;
  findings: FindingTable;
  asset_exposure: AssetExposureTable;
  exposure_counts: ExposureCountTable;
  finding_events: FindingEventTable;
  users: UserTable;
  sessions: SessionTable;
  api_tokens: ApiTokenTable;
  audit_log: AuditLogTable;
  audit_pending: AuditPendingTable;
  exposure_runs: ExposureRunTable;
  events: EventTable;
  event_cursors: EventCursorTable;
  jobs: JobTable;
  job_schedules: JobScheduleTable;
  observations: ObservationTable;
  asset_response: AssetResponseTable;
  board_counts: BoardCountTable;
  board_dirty: BoardDirtyTable;
  agent_tokens: AgentTokenTable;
  agents: AgentTable;
  agent_certificates: AgentCertificateTable;
  agent_jobs: AgentJobTable;
}
