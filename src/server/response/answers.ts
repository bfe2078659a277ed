/**
 * The four answers of one asset for one advisory, from its board row (verdict and current observations) and the
 * observations those point to. The same rules as the SQL in repository.ts: the patch answer is not_applicable when
 * the verdict is not_affected; otherwise the newer of the verdict's (affected → unpatched since affected_at; fixed
 * after having been affected → patched since patched_at) and the newest patch observation's (the observation when
 * both are of the same time); with neither, unknown.
 */
import type { Answer, AssetResponse, ObservationSummary, StoredObservation } from '../../api/index.js';
import type { ObservationTable } from '../db/schema.js';
import type { BoardRow } from './repository.js';

const UNKNOWN: Answer = { state: 'unknown', at: null, source: null };

function details(o: ObservationTable | undefined): Pick<Answer, 'window' | 'summary'> {
  if (!o) return {};
  return {
    ...(o.window_from !== null || o.window_to !== null
      ? { window: { from: o.window_from, to: o.window_to } }
      : {}),
    ...(o.summary !== null ? { summary: JSON.parse(o.summary) as ObservationSummary } : {}),
  };
}

function observed(
  state: string | null,
  at: string | null,
  source: string | null,
  id: string | null,
  observations: ReadonlyMap<string, ObservationTable>,
): Answer {
  if (state === null) return UNKNOWN;
  return { state, at, source, ...details(id === null ? undefined : observations.get(id)) };
}

/** The patch answer (see the module comment). */
export function patchAnswer(row: BoardRow, observations: ReadonlyMap<string, ObservationTable>): Answer {
  if (row.verdict === 'not_affected')
    return { state: 'not_applicable', at: row.exposure_at, source: 'exposure' };
  let fromVerdict: Answer | undefined;
  if (row.verdict === 'affected')
    fromVerdict = { state: 'unpatched', at: row.affected_at ?? row.exposure_at, source: 'exposure' };
  else if (row.verdict === 'fixed' && row.patched_at !== null)
    fromVerdict = { state: 'patched', at: row.patched_at, source: 'exposure' };
  const fromObservation =
    row.patch === null
      ? undefined
      : observed(row.patch, row.patch_at, row.patch_source, row.patch_id, observations);
  if (fromVerdict && fromObservation)
    return (fromObservation.at ?? '') >= (fromVerdict.at ?? '') ? fromObservation : fromVerdict;
  return fromObservation ?? fromVerdict ?? UNKNOWN;
}

export function assetResponse(
  row: BoardRow,
  advisoryId: string,
  observations: ReadonlyMap<string, ObservationTable>,
): AssetResponse {
  return {
    tenant_id: row.tenant_id,
    asset_id: row.asset_id,
    advisory_id: advisoryId,
    name: row.name,
    exposure: { verdict: row.verdict ?? 'unknown', at: row.exposure_at },
    shield: observed(row.shield, row.shield_at, row.shield_source, row.shield_id, observations),
    compromise: observed(
      row.compromise,
      row.compromise_at,
      row.compromise_source,
      row.compromise_id,
      observations,
    ),
    patch: patchAnswer(row, observations),
  };
}

/** A stored observation as the API shows it. */
export function toStoredObservation(o: ObservationTable): StoredObservation {
  return {
    id: o.id,
    asset_id: o.asset_id,
    advisory_id: o.advisory_id,
    kind: o.kind as StoredObservation['kind'],
    value: o.value as StoredObservation['value'],
    source: o.source as StoredObservation['source'],
    observed_at: o.observed_at,
    ...details(o),
    actor: o.actor,
    recorded_at: o.recorded_at,
  };
}
