/** The farm plan with the real knowledge base: what `--count N` starts. */
import { describe, expect, it } from 'vitest';
import { loadKnowledgeBase } from '../advisories/index.js';
import { groupCatalogByCu, planFarm } from './farm.js';
import { farmKnowledge } from './knowledge.js';

describe('lab farm --count', () => {
  it('with the real catalog, 10 servers cover Exchange 2013, 2016 and 2019, vulnerable, patched and shielded', () => {
    const { catalogBuilds, isVulnerable: judged } = farmKnowledge(loadKnowledgeBase());
    const groups = groupCatalogByCu(catalogBuilds);
    const slots = planFarm(groups, ['vulnerable', 'patched', 'shielded'], judged, 10);
    const line = (b: string) =>
      ({ '15.0': 2013, '15.1': 2016, '15.2': 2019 })[b.split('.').slice(0, 2).join('.')];
    expect(new Set(slots.map((s) => line(s.build)))).toEqual(new Set([2013, 2016, 2019]));
    expect(new Set(slots.map((s) => s.state))).toEqual(new Set(['vulnerable', 'patched', 'shielded']));
    expect(slots.some((s) => judged(s.build))).toBe(true);
    expect(slots.some((s) => !judged(s.build))).toBe(true);
    // Ten different CUs, and not only the oldest ones of each line.
    expect(new Set(slots.map((s) => s.build.split('.').slice(0, 3).join('.'))).size).toBe(10);
    // Deterministic.
    expect(planFarm(groups, ['vulnerable', 'patched', 'shielded'], judged, 10)).toEqual(slots);
  });
});
