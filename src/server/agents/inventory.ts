/**
 * An inventory report applied to the asset it describes: an agent's full report or diff (the channel's
 * `inventory` message), or an RMM script's upload (inventory-routes.ts). The facts are written through the asset
 * service, so exactly that asset is re-judged, in one transaction with its audit record and events.
 *
 * - full: the facts are validated (AssetFacts), their hash must be the one reported (factsHash, without id and
 *   tenant), the asset id is the agent's id, and they replace the asset's facts (source `agent`).
 * - diff: applied only when the agent's stored inventory_hash is the diff's base_hash AND the asset's stored
 *   facts still hash to it (an operator's PUT or a scan's merge changes them); the result must hash to the
 *   reported hash. Anything else answers `{ ok: false, need: 'full' }` and changes nothing.
 *
 * The agent's inventory_hash and inventory_at are written after the facts: a crash between the two leaves the
 * old hash, so the agent's next report is a full one that finds the facts unchanged.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import {
  applyDiff,
  DiffMismatchError,
  factsHash,
  type InventoryDiff,
  InventoryDiffSchema,
} from '../../api/agent-inventory.js';
import type { PutResult } from '../../api/index.js';
import { type AssetFacts, assetFactsValidator, formatPath } from '../../core/index.js';
import {
  isWindowsInventory,
  WINDOWS_INVENTORY_SCHEMA,
  windowsInventoryFacts,
} from '../../core/inventory/windows.js';
import type { AssetService } from '../assets/service.js';
import type { Actor } from '../context.js';
import type { Db } from '../db/connect.js';
import { ApiError, badRequest } from '../errors.js';
import { checkId } from '../ids.js';
import type { TenantScope } from '../scope.js';

/** The agent a report comes from: its row in `agents` (or the fields of it this module reads). */
export interface InventoryAgent {
  tenant_id: string;
  id: string;
}

/** What the channel's `inventory` message carries (src/api/agent-protocol.ts InventoryMessage). */
export interface InventoryReport {
  mode: 'full' | 'diff';
  hash: string;
  base_hash?: string;
  facts?: unknown;
  diff?: unknown;
}

export interface InventoryOutcome {
  ok: boolean;
  /** The report could not be applied to what the server holds: send a full one. */
  need?: 'full';
  /** Why a diff was not applied (for the agent's log; never secret). */
  reason?: string;
  /** What the asset write did, when it ran. */
  put?: PutResult;
}

const diffCheck = TypeCompiler.Compile(InventoryDiffSchema);
const HASH_RE = /^[0-9a-f]{64}$/;

/** Validated facts, or a 400 naming `<field>.<path>`. */
export function parseFacts(field: string, input: unknown): AssetFacts {
  const parsed = assetFactsValidator.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.issues[0]!;
    const path = formatPath(issue.path);
    throw badRequest(`${field}${path ? `.${path}` : ''}: ${issue.message}`);
  }
  return parsed.data;
}

export class InventoryService {
  constructor(
    private readonly db: Db,
    private readonly assets: AssetService,
  ) {}

  /** Applies an agent's report to its asset (asset id = agent id, source `agent`). */
  async applyInventory(
    scope: TenantScope,
    agent: InventoryAgent,
    report: InventoryReport,
    actor: Actor = { name: `agent:${agent.id}` },
  ): Promise<InventoryOutcome> {
    scope.require(agent.tenant_id);
    if (!HASH_RE.test(report.hash ?? '')) throw badRequest('hash: expected a lower-case hex SHA-256');
    if (report.mode === 'full') {
      const facts = parseFacts('facts', report.facts);
      if (factsHash(facts) !== report.hash) {
        throw badRequest(
          'hash: does not match the facts (SHA-256 of their canonical JSON without id and tenant)',
        );
      }
      const put = await this.write(scope, agent, facts, report.hash, actor);
      return { ok: true, put };
    }
    if (report.mode !== 'diff') throw badRequest('mode: expected full or diff');
    if (!diffCheck.Check(report.diff)) {
      const e = diffCheck.Errors(report.diff).First();
      throw badRequest(`diff${e?.path.replace(/\//g, '.') ?? ''}: ${e?.message ?? 'not an inventory diff'}`);
    }
    const need = (reason: string): InventoryOutcome => ({ ok: false, need: 'full', reason });
    if (!report.base_hash) return need('a diff needs base_hash');
    const stored = await this.stored(scope, agent);
    if (!stored.hash || stored.hash !== report.base_hash) return need('the server holds another inventory');
    if (!stored.facts || factsHash(stored.facts) !== stored.hash) return need('the asset was changed since');
    let next: AssetFacts;
    try {
      next = applyDiff(stored.facts, report.diff as InventoryDiff);
    } catch (err) {
      if (err instanceof DiffMismatchError) return need(err.message);
      throw err;
    }
    const parsed = assetFactsValidator.safeParse(next);
    if (!parsed.success) {
      const issue = parsed.issues[0]!;
      throw badRequest(`diff: the result is not valid facts: ${formatPath(issue.path)}: ${issue.message}`);
    }
    if (factsHash(parsed.data) !== report.hash) return need('the result does not have the reported hash');
    const put = await this.write(scope, agent, parsed.data, report.hash, actor);
    return { ok: true, put };
  }

  /**
   * Applies an RMM script's full inventory, source `rmm`: the Windows collector's document (`windows`, read as
   * the agent reads it) under `asset_id`, or `facts` naming their asset in facts.id. `hash`, when given, must
   * match the facts.
   */
  async applyUpload(
    scope: TenantScope,
    tenantId: string,
    input: { asset_id?: string; windows?: unknown; facts?: unknown; hash?: string },
    actor: Actor,
  ): Promise<{
    asset_id: string;
    outcome: PutResult['results'][number]['outcome'];
    hash: string;
    findings_written: number;
  }> {
    scope.require(tenantId);
    let facts: AssetFacts;
    if (input.windows !== undefined) {
      if (input.facts !== undefined) throw badRequest('facts: send either windows or facts, not both');
      if (!input.asset_id) throw badRequest('asset_id: required with windows');
      checkId('asset_id', input.asset_id);
      if (!isWindowsInventory(input.windows)) {
        throw badRequest(`windows: not a ${WINDOWS_INVENTORY_SCHEMA} document`);
      }
      facts = parseFacts('windows', windowsInventoryFacts(input.windows, input.asset_id));
    } else {
      if (input.facts === undefined) throw badRequest('windows: required (or facts)');
      facts = parseFacts('facts', input.facts);
      checkId('facts.id', facts.id);
      if (input.asset_id !== undefined && input.asset_id !== facts.id) {
        throw badRequest(`asset_id: "${input.asset_id}" does not match facts.id "${facts.id}"`);
      }
      if (facts.tenant !== undefined && facts.tenant !== tenantId) {
        throw badRequest(
          `facts.tenant: "${facts.tenant}" does not match the tenant in the URL (${tenantId})`,
        );
      }
    }
    const hash = factsHash(facts);
    if (input.hash !== undefined && input.hash !== hash) {
      throw badRequest(
        'hash: does not match the facts (SHA-256 of their canonical JSON without id and tenant)',
      );
    }
    const put = await this.assets.put(scope, tenantId, [facts], { source: 'rmm' }, actor);
    return {
      asset_id: facts.id,
      outcome: put.results[0]!.outcome,
      hash,
      findings_written: put.findings_written,
    };
  }

  /** The agent's stored inventory hash and its asset's stored facts. */
  private async stored(
    scope: TenantScope,
    agent: InventoryAgent,
  ): Promise<{ hash: string | null; facts?: AssetFacts }> {
    const row = await scope
      .filter(this.db.kysely.selectFrom('agents').select(['inventory_hash']), 'tenant_id')
      .where('tenant_id', '=', agent.tenant_id)
      .where('id', '=', agent.id)
      .executeTakeFirst();
    if (!row?.inventory_hash) return { hash: null };
    try {
      const asset = await this.assets.get(scope, agent.tenant_id, agent.id);
      return { hash: row.inventory_hash, facts: asset.facts as AssetFacts };
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return { hash: row.inventory_hash };
      throw err;
    }
  }

  private async write(
    scope: TenantScope,
    agent: InventoryAgent,
    facts: AssetFacts,
    hash: string,
    actor: Actor,
  ): Promise<PutResult> {
    const { tenant: _tenant, ...rest } = facts;
    const put = await this.assets.put(
      scope,
      agent.tenant_id,
      [{ ...rest, id: agent.id }],
      { source: 'agent' },
      actor,
    );
    const at = new Date().toISOString();
    await scope
      .filter(this.db.kysely.updateTable('agents'), 'tenant_id')
      .set({ inventory_hash: hash, inventory_at: at })
      .where('tenant_id', '=', agent.tenant_id)
      .where('id', '=', agent.id)
      .execute();
    return put;
  }
}
