/**
 * Response state: per asset and advisory, four answers — exposure (the verdict), shield, compromise and patch —
 * each with its source and time. Shield, compromise and patch come from observations (a scan's check result, a
 * hunt's host verdict, a gateway, a host mitigation); the current answer of a kind is its most recent observation
 * (observed_at, then id), whatever its source. Missing data is `unknown`, never a safe answer. The board rolls the
 * answers up per advisory and tenant.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Id, MAX_LIMIT } from './schemas.js';

export const OBSERVATION_KINDS = ['shield', 'compromise', 'patch'] as const;
export type ObservationKind = (typeof OBSERVATION_KINDS)[number];

export const OBSERVATION_SOURCES = ['scan', 'hunt', 'gateway', 'mitigation', 'agent'] as const;
export type ObservationSource = (typeof OBSERVATION_SOURCES)[number];

export const SHIELD_STATES = ['shielded', 'unshielded', 'unknown'] as const;
export type ShieldState = (typeof SHIELD_STATES)[number];

/** A hunt's verdict for one host (as `bulwark hunt` reports it). */
export const HOST_VERDICTS = [
  'compromised',
  'exploitation_attempted',
  'probed',
  'clean',
  'insufficient_logs',
] as const;
export type HostVerdictValue = (typeof HOST_VERDICTS)[number];
/** The compromise answer: a host verdict, or unknown when no hunt reported on the asset. */
export const COMPROMISE_STATES = [...HOST_VERDICTS, 'unknown'] as const;
export type CompromiseState = (typeof COMPROMISE_STATES)[number];

/** What a patch observation may say. */
export const PATCH_VALUES = ['patched', 'unpatched', 'unknown'] as const;
/** The patch answer: not_applicable when the advisory does not affect the asset (verdict not_affected). */
export const PATCH_STATES = [...PATCH_VALUES, 'not_applicable'] as const;
export type PatchState = (typeof PATCH_STATES)[number];

/** The values an observation of each kind may carry. */
export const OBSERVATION_VALUES: Record<ObservationKind, readonly string[]> = {
  shield: SHIELD_STATES,
  compromise: HOST_VERDICTS,
  patch: PATCH_VALUES,
};

/** Observations (or hunt host reports) one request may carry. */
export const MAX_OBSERVATIONS_PER_REQUEST = 1000;
/** Observations an asset's response answer lists, newest first. */
export const MAX_OBSERVATIONS_SHOWN = 50;

const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));
const IsoTime = Type.String({ format: 'date-time', maxLength: 40, description: 'ISO-8601 date-time' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const ObservationWindow = Type.Object(
  { from: Nullable(IsoTime), to: Nullable(IsoTime) },
  {
    additionalProperties: false,
    description: 'the time span the observation covers (a hunt: the logs read)',
  },
);
export type ObservationWindow = Static<typeof ObservationWindow>;

/** Evidence in brief: bounded, never the raw logs. */
export const ObservationSummary = Type.Object(
  {
    text: Type.String({ maxLength: 500 }),
    cves: Type.Optional(Type.Array(Type.String({ maxLength: 40 }), { maxItems: 20 })),
    attacker_ips: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 20 })),
    counts: Type.Optional(
      Type.Record(Type.String({ maxLength: 40 }), Type.Integer({ minimum: 0 }), { maxProperties: 20 }),
    ),
    check: Type.Optional(Type.String({ maxLength: 40, description: 'the scan check that observed it' })),
    url: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export type ObservationSummary = Static<typeof ObservationSummary>;

/** One observation as a client records it. The value must be one of its kind's (OBSERVATION_VALUES). */
export const Observation = Type.Object(
  {
    asset_id: Id,
    advisory_id: Type.String({ minLength: 1, maxLength: 200 }),
    kind: literals(OBSERVATION_KINDS),
    value: literals([...new Set([...SHIELD_STATES, ...HOST_VERDICTS, ...PATCH_VALUES])]),
    source: literals(OBSERVATION_SOURCES),
    observed_at: IsoTime,
    window: Type.Optional(ObservationWindow),
    summary: Type.Optional(ObservationSummary),
  },
  { additionalProperties: false },
);
export type Observation = Static<typeof Observation>;

/** A stored observation: as recorded, with its id, who recorded it and when. */
export const StoredObservation = Type.Composite([
  Observation,
  Type.Object({ id: Type.String(), actor: Type.String(), recorded_at: Type.String() }),
]);
export type StoredObservation = Static<typeof StoredObservation>;

export const ObservationsBody = Type.Object(
  { observations: Type.Array(Observation, { minItems: 1, maxItems: MAX_OBSERVATIONS_PER_REQUEST }) },
  { additionalProperties: false },
);
export type ObservationsBody = Static<typeof ObservationsBody>;

export const ObservationsResult = Type.Object({
  recorded: Type.Integer({ minimum: 0 }),
  unknown_assets: Type.Array(Type.String(), {
    description: 'ids of assets the tenant does not have; their observations were not recorded',
  }),
});
export type ObservationsResult = Static<typeof ObservationsResult>;

export const HuntReport = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 255, description: 'the host name the hunt reported on' }),
    addresses: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: 20 })),
    verdict: literals(HOST_VERDICTS),
    window: ObservationWindow,
    summary: ObservationSummary,
  },
  { additionalProperties: false },
);
export type HuntReport = Static<typeof HuntReport>;

export const HuntReportsBody = Type.Object(
  {
    advisory_id: Type.String({ minLength: 1, maxLength: 200 }),
    /** When the hunt ran; the reports' observed_at. Default: when the server receives them. */
    observed_at: Type.Optional(IsoTime),
    reports: Type.Array(HuntReport, { minItems: 1, maxItems: MAX_OBSERVATIONS_PER_REQUEST }),
  },
  { additionalProperties: false },
);
export type HuntReportsBody = Static<typeof HuntReportsBody>;

export const HuntReportsResult = Type.Object({
  matched: Type.Array(Type.Object({ host: Type.String(), asset_id: Type.String() })),
  unmatched: Type.Array(
    Type.Object({
      host: Type.String(),
      reason: Type.String({ description: 'no asset has this id, name or address; or "ambiguous: a, b"' }),
    }),
  ),
});
export type HuntReportsResult = Static<typeof HuntReportsResult>;

export const BoardCounts = Type.Object({
  assets: Type.Integer({
    description: 'assets the advisory concerns: with a verdict or an observation for it',
  }),
  exposed: Type.Integer({ description: 'verdict affected' }),
  unknown_exposure: Type.Integer({ description: 'verdict unknown' }),
  shielded: Type.Integer({ description: 'exposed and shielded' }),
  unshielded: Type.Integer({ description: 'exposed and not shielded (unshielded or unknown)' }),
  compromised: Type.Integer({ description: 'hunted compromised or exploitation_attempted' }),
  patched: Type.Integer(),
  clean: Type.Integer({ description: 'hunted clean' }),
  not_hunted: Type.Integer({ description: 'verdict other than not_affected and no hunt verdict' }),
});
export type BoardCounts = Static<typeof BoardCounts>;

export const BOARD_SORTS = ['worst', 'name', 'exposed', 'compromised', 'patched'] as const;
export type BoardSort = (typeof BOARD_SORTS)[number];

export const BoardParams = Type.Object({ advisory: Type.String({ minLength: 1, maxLength: 200 }) });
export type BoardParams = Static<typeof BoardParams>;
export const BoardTenantParams = Type.Object({
  advisory: Type.String({ minLength: 1, maxLength: 200 }),
  tenant: Id,
});
export type BoardTenantParams = Static<typeof BoardTenantParams>;

const Limit = Type.Optional(
  Type.Integer({
    minimum: 1,
    maximum: MAX_LIMIT,
    description: `page size (default 100, at most ${MAX_LIMIT})`,
  }),
);
const Cursor = Type.Optional(
  Type.String({ maxLength: 2000, description: "the previous page's next_cursor" }),
);

export const BoardQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 200, description: 'tenant id or name contains' })),
  sort: Type.Optional(literals(BOARD_SORTS)),
  limit: Limit,
  cursor: Cursor,
});
export type BoardQuery = Static<typeof BoardQuery>;

export const BoardTenant = Type.Object({
  tenant_id: Type.String(),
  name: Type.String(),
  counts: BoardCounts,
});
export type BoardTenant = Static<typeof BoardTenant>;

export const Board = Type.Object({
  advisory_id: Type.String(),
  title: Type.String(),
  totals: BoardCounts,
  tenants: Type.Object({
    items: Type.Array(BoardTenant),
    next_cursor: Type.Union([Type.String(), Type.Null()]),
  }),
});
export type Board = Static<typeof Board>;

export const ASSET_STATE_FILTERS = [
  'compromised',
  'unshielded',
  'exposed',
  'shielded',
  'patched',
  'unknown',
] as const;
export type AssetStateFilter = (typeof ASSET_STATE_FILTERS)[number];

export const BoardAssetsQuery = Type.Object({
  state: Type.Optional(literals(ASSET_STATE_FILTERS)),
  q: Type.Optional(Type.String({ maxLength: 200, description: 'asset id or name contains' })),
  limit: Limit,
  cursor: Cursor,
});
export type BoardAssetsQuery = Static<typeof BoardAssetsQuery>;

export const Answer = Type.Object({
  state: Type.String(),
  at: Type.Union([Type.String(), Type.Null()]),
  source: Type.Union([Type.String(), Type.Null()]),
  window: Type.Optional(ObservationWindow),
  summary: Type.Optional(ObservationSummary),
});
export type Answer = Static<typeof Answer>;

export const AssetResponse = Type.Object({
  tenant_id: Type.String(),
  asset_id: Type.String(),
  advisory_id: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  exposure: Type.Object({
    verdict: Type.String({ description: 'affected, fixed, not_affected, or unknown (also when not judged)' }),
    at: Type.Union([Type.String(), Type.Null()]),
  }),
  shield: Answer,
  compromise: Answer,
  patch: Answer,
});
export type AssetResponse = Static<typeof AssetResponse>;

export const BoardAssets = Type.Object({
  items: Type.Array(AssetResponse),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});
export type BoardAssets = Static<typeof BoardAssets>;

export const AssetResponseQuery = Type.Object({
  advisory: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});
export type AssetResponseQuery = Static<typeof AssetResponseQuery>;

export const AssetResponseDetail = Type.Object({
  items: Type.Array(
    Type.Composite([AssetResponse, Type.Object({ observations: Type.Array(StoredObservation) })]),
  ),
});
export type AssetResponseDetail = Static<typeof AssetResponseDetail>;
