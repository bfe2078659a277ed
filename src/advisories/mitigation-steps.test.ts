import { describe, expect, it } from 'vitest';
import { loadKnowledgeBase, parseAdvisory } from './index.js';

const kb = loadKnowledgeBase();
const proxylogon = kb.advisories.find((a) => a.id === 'proxylogon-2021-03')!;

/** A minimal advisory whose one mitigation has the given steps (YAML text, indented for the `steps:` key). */
function withSteps(steps: string): string {
  return `schema_version: 1
id: test-steps
title: Test
summary: Test
published: 2021-03-02
cves: [{ id: CVE-2021-26855, title: t, description: d }]
mitigations:
  - id: m1
    title: M
    cves: [CVE-2021-26855]
    product: microsoft:exchange_server
    description: d
    actions: [{ type: stop_app_pool, app_pool: P }]
    rollback: r
    steps:
${steps}
`;
}

describe('host mitigation steps in advisory packs', () => {
  it('the ProxyLogon pack carries the EOMT rules and the service and app-pool steps as data', () => {
    const byId = new Map(proxylogon.mitigations.map((m) => [m.id, m]));
    const rewrite = byId.get('backend-cookie-url-rewrite')!.steps;
    expect(rewrite.map((s) => s.id)).toEqual(['rule-anonresource-backend', 'rule-beresource']);
    expect(rewrite[0]!.apply).toEqual({
      kind: 'iis_url_rewrite_rule',
      site: 'Default Web Site',
      rule: {
        name: 'X-AnonResource-Backend Abort - inbound',
        match_url: '.*',
        conditions: [
          { input: '{HTTP_COOKIE}', pattern: '(.*)X-AnonResource-Backend(.*)', ignore_case: true },
        ],
        action: 'AbortRequest',
        stop_processing: false,
      },
    });
    expect(rewrite.every((s) => s.undo === 'restore' && s.shielding)).toBe(true);
    expect(byId.get('disable-unified-messaging')!.steps.map((s) => s.apply)).toEqual([
      { kind: 'windows_service', name: 'MSExchangeUM', state: 'stopped', start_mode: 'disabled' },
      { kind: 'windows_service', name: 'MSExchangeUMCR', state: 'stopped', start_mode: 'disabled' },
    ]);
    const ecp = byId.get('stop-ecp-app-pool')!.steps;
    expect(ecp.map((s) => [s.id, s.shielding])).toEqual([
      ['managed-availability', false],
      ['managed-availability-recovery', false],
      ['ecp-app-pool', true],
    ]);
  });

  it('refuses a malformed step, naming the field', () => {
    const cases: [string, RegExp][] = [
      [
        '      - { id: s1, apply: { kind: windows_service, name: X, state: paused } }',
        /mitigations\[0\]\.steps\[0\]\.apply\.state: must be one of: running, stopped/,
      ],
      ['      - { id: s1, apply: { kind: registry_key, name: X } }', /steps.*0.*apply/],
      [
        '      - { id: s1, apply: { kind: iis_url_rewrite_rule, site: S, rule: { name: R, match_url: ".*", conditions: [], action: AbortRequest } } }',
        /steps.*0.*apply.*rule.*conditions/,
      ],
      [
        '      - { id: s1, apply: { kind: windows_service, name: X, state: stopped }, undo: { kind: windows_service, name: Y, state: running } }',
        /steps.*0.*undo.*must undo what apply sets \(windows_service X\)/,
      ],
      [
        '      - { id: s1, apply: { kind: windows_service, name: X, state: stopped } }\n      - { id: s1, apply: { kind: windows_service, name: Y, state: stopped } }',
        /steps.*1.*id.*step id s1 is used twice/,
      ],
      [
        '      - { id: s1, apply: { kind: windows_service, name: X, state: stopped }, shielding: maybe }',
        /steps.*0.*shielding/,
      ],
    ];
    for (const [steps, message] of cases) {
      let error: Error | undefined;
      try {
        parseAdvisory(withSteps(steps), 'test.yaml');
      } catch (err) {
        error = err as Error;
      }
      expect(error, steps).toBeDefined();
      expect(error!.message, steps).toMatch(message);
    }
  });

  it('accepts a pack of its own with steps, defaults filled', () => {
    const a = parseAdvisory(
      withSteps(
        '      - { id: s1, apply: { kind: iis_app_pool, name: P, state: stopped, auto_start: false } }',
      ),
      'test.yaml',
    );
    expect(a.mitigations[0]!.steps).toEqual([
      {
        id: 's1',
        apply: { kind: 'iis_app_pool', name: 'P', state: 'stopped', auto_start: false },
        undo: 'restore',
        shielding: true,
        skip_on: [],
      },
    ]);
  });
});
