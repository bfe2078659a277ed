/**
 * `verify`: a fresh inventory, plus the scan engine's check against the host's own Exchange URL (`params.url`, or
 * the first http(s) endpoint the inventory lists) → `{advisory_id, facts, scan?: {url, verdict, check}}`. The scan
 * verdict is the scan's host state (vulnerable, patched, shielded, unknown, …); its active check tests
 * CVE-2021-26855 (ProxyLogon).
 */

import type { KnowledgeBase } from '../../advisories/index.js';
import type { JobEnvelope } from '../../api/agent-protocol.js';
import type { AssetFacts } from '../../core/index.js';
import { parseTargets, scanKnowledge, scanOne } from '../../scan/index.js';
import { type ExecutorContext, type ExecutorOutcome, failed, ParamError, stringParam } from './context.js';

export interface VerifyOutput {
  advisory_id: string;
  facts: AssetFacts;
  scan?: { url: string; verdict: string; check: string };
}

const SCAN_TIMEOUT_MS = 15_000;

export async function runVerifyJob(
  envelope: JobEnvelope,
  ctx: ExecutorContext,
  kb: () => KnowledgeBase,
): Promise<ExecutorOutcome> {
  let advisoryId: string;
  let url: string | undefined;
  try {
    advisoryId = stringParam(envelope.params, 'advisory_id', true);
    url = stringParam(envelope.params, 'url', false);
    if (url !== undefined && !/^https?:\/\/[^\s]+$/i.test(url)) {
      throw new ParamError('params.url: expected an http:// or https:// URL');
    }
    if (!kb().advisories.some((a) => a.id === advisoryId)) {
      throw new ParamError(`params.advisory_id: no advisory "${advisoryId}" in this agent's packs`);
    }
  } catch (err) {
    if (err instanceof ParamError) return failed(err.message);
    throw err;
  }
  ctx.progress(0, 2, 'inventory');
  let facts: AssetFacts;
  try {
    facts = await ctx.collectInventory();
  } catch (err) {
    return failed(`inventory failed: ${(err as Error).message}`.slice(0, 1000));
  }
  url ??= facts.endpoints.find((e) => /^https?:\/\//i.test(e));
  const output: VerifyOutput = { advisory_id: advisoryId, facts };
  if (url) {
    ctx.progress(1, 2, `scan ${url}`);
    const { targets, errors } = parseTargets([url]);
    if (!targets.length) return failed(`params.url: ${errors[0] ?? 'not a scan target'}`);
    const r = await scanOne(targets[0]!, { ...scanKnowledge(kb()), timeoutMs: SCAN_TIMEOUT_MS, retries: 0 });
    output.scan = { url: r.url || url, verdict: r.state, check: r.check };
  }
  ctx.progress(2, 2);
  return { status: 'succeeded', output };
}
