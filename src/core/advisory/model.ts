/**
 * The advisory model: what Bulwark knows about one vulnerability event (ProxyLogon, ProxyShell, …) as data.
 * Built-in packs, imported feeds and user files all validate against this one schema, so nothing downstream
 * is hard-wired to any single advisory.
 */
import { type Static, Type } from '@sinclair/typebox';
import { CVE_ID_PATTERN } from '../cve.js';
import type { DataIssue } from '../datafile.js';
import {
  Defaulted,
  dataValidator,
  LiteralUnion,
  type StaticOutput,
  StrictObject,
  withMessage,
} from '../schema.js';
import { SCHEME_IDS } from '../versions/scheme.js';

export const isoDate = withMessage(
  Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }),
  'expected a date as YYYY-MM-DD',
);
export const cveId = withMessage(
  Type.String({ pattern: CVE_ID_PATTERN }),
  'expected a CVE id such as CVE-2021-26855',
);
/**
 * Product ids are `vendor:product` as in CPE (`microsoft:exchange_server`) or a package URL without version
 * (`pkg:deb/debian/openssl`), lower case.
 */
export const productId = withMessage(
  Type.String({ pattern: '^([a-z0-9][a-z0-9._-]*:[a-z0-9][a-z0-9._+-]*|pkg:[a-z0-9.+-]+\\/[^\\s@?#]+)$' }),
  'expected a product id such as microsoft:exchange_server or pkg:deb/debian/openssl',
);
export const kbId = withMessage(
  Type.String({ pattern: '^KB\\d{6,8}$' }),
  'expected a Microsoft KB id such as KB5000871',
);
const sha256 = withMessage(Type.String({ pattern: '^[0-9a-f]{64}$' }), 'expected a lower-case hex SHA-256');
const url = withMessage(
  Type.String({ format: 'uri', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://' }),
  'expected an http(s) URL',
);
const nonEmpty = Type.String({ minLength: 1 });

export const schemeId = LiteralUnion(SCHEME_IDS as readonly string[]);

export const kevSchema = StrictObject({
  date_added: isoDate,
  due_date: isoDate,
  ransomware: LiteralUnion(['known', 'unknown']),
  required_action: Type.Optional(Type.String()),
  /** Where the KEV data came from, e.g. "CISA KEV catalog 2025.08.25". */
  source: Type.Optional(Type.String()),
});

export const cveSchema = StrictObject({
  id: cveId,
  title: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  cvss: Type.Optional(
    StrictObject({
      version: LiteralUnion(['2.0', '3.0', '3.1', '4.0']),
      vector: nonEmpty,
      score: Type.Number({ minimum: 0, maximum: 10 }),
    }),
  ),
  cwe: Defaulted(
    Type.Array(
      withMessage(Type.String({ pattern: '^(CWE-\\d+|NVD-CWE-noinfo|NVD-CWE-Other)$' }), 'expected CWE-<n>'),
    ),
    [],
  ),
  /** Present when the CVE is in CISA's Known Exploited Vulnerabilities catalog. */
  kev: Type.Optional(kevSchema),
});

/**
 * A half-open interval of one release train: `introduced` (inclusive, absent = since the beginning) up to
 * `fixed` (exclusive, the first fixed version) or `last_affected` (inclusive, when no fix exists).
 */
export const versionRangeSchema = StrictObject({
  train: Type.Optional(Type.String()),
  introduced: Type.Optional(nonEmpty),
  fixed: Type.Optional(nonEmpty),
  last_affected: Type.Optional(nonEmpty),
});

/** A range names either `fixed` or `last_affected`, not both. */
function checkRange(r: VersionRange, path: readonly PropertyKey[]): DataIssue | undefined {
  return r.fixed && r.last_affected
    ? { path, message: 'give either fixed or last_affected, not both' }
    : undefined;
}

export const affectedSchema = StrictObject({
  product: productId,
  /** Display name, e.g. "Microsoft Exchange Server". */
  name: Type.Optional(Type.String()),
  scheme: schemeId,
  cves: withMessage(Type.Array(cveId, { minItems: 1 }), 'name at least one CVE this entry is about'),
  ranges: Defaulted(Type.Array(versionRangeSchema), []),
  /** Explicitly affected versions (when a source lists builds rather than ranges). */
  versions: Defaulted(Type.Array(nonEmpty), []),
  /** Explicitly fixed versions (e.g. CSAF product_status.fixed). */
  fixed_versions: Defaulted(Type.Array(nonEmpty), []),
  /** Explicitly not-affected versions (e.g. CSAF known_not_affected). */
  not_affected_versions: Defaulted(Type.Array(nonEmpty), []),
  /**
   * A product catalog (e.g. "exchange") that lists every known version. Versions the catalog does not know
   * are never judged safe: outside an affected range they are `unknown`.
   */
  catalog: Type.Optional(Type.String()),
  /**
   * What the source says about a version that is in none of `ranges`, `versions`, `fixed_versions` and
   * `not_affected_versions`. `not_affected` (the default, for hand-written files whose ranges cover the whole
   * product): such a version is fixed or not affected. `unknown` (what importers write unless the source states
   * it, e.g. a CVE record's `defaultStatus: unaffected` or OSV's complete ranges): such a version is `unknown`,
   * and a range's `fixed` bound speaks only for builds of the range's own catalog `train`.
   */
  default_status: Type.Optional(LiteralUnion(['not_affected', 'unknown'])),
  notes: Type.Optional(Type.String()),
});

export const fixTargetSchema = StrictObject({
  /** Builds the update can be installed on. */
  applies_to: versionRangeSchema,
  /** The version after installing it, if it changes the version. */
  produces: Type.Optional(nonEmpty),
  url: Type.Optional(url),
  sha256: Type.Optional(sha256),
  notes: Type.Optional(Type.String()),
});

export const fixSchema = StrictObject({
  id: nonEmpty,
  title: nonEmpty,
  kind: LiteralUnion(['security_update', 'cumulative_update', 'package_update', 'upgrade']),
  product: productId,
  cves: Type.Array(cveId, { minItems: 1 }),
  kb: Type.Optional(kbId),
  package: Type.Optional(StrictObject({ name: nonEmpty, version: nonEmpty })),
  released: Type.Optional(isoDate),
  url: Type.Optional(url),
  targets: Defaulted(Type.Array(fixTargetSchema), []),
  notes: Type.Optional(Type.String()),
});

/** Host mitigations are executable by the agent later, so each action is a closed, typed vocabulary. */
const rewriteRuleSchema = StrictObject({
  name: nonEmpty,
  match_url: nonEmpty,
  conditions: Type.Array(
    StrictObject({ input: nonEmpty, pattern: nonEmpty, ignore_case: Defaulted(Type.Boolean(), true) }),
    { minItems: 1 },
  ),
  action: LiteralUnion(['AbortRequest', 'CustomResponse']),
  stop_processing: Defaulted(Type.Boolean(), false),
});

/** One of a closed set of actions, told apart by `type`. */
export const mitigationActionSchema = Type.Union([
  StrictObject({
    type: Type.Literal('iis_url_rewrite'),
    site: nonEmpty,
    requires: Type.Optional(Type.String()),
    rules: Type.Array(rewriteRuleSchema, { minItems: 1 }),
  }),
  StrictObject({
    type: Type.Literal('disable_service'),
    services: Type.Array(nonEmpty, { minItems: 1 }),
    /** Version ranges of the product on which this action is skipped (e.g. UM does not exist on 2019). */
    skip_on: Defaulted(Type.Array(versionRangeSchema), []),
  }),
  StrictObject({ type: Type.Literal('stop_app_pool'), app_pool: nonEmpty }),
  StrictObject({
    type: Type.Literal('disable_managed_availability'),
    services: Type.Array(nonEmpty, { minItems: 1 }),
  }),
]);

/**
 * A host state a mitigation step sets or checks, told apart by `kind`: an IIS URL Rewrite inbound rule present on
 * a site (the site's root web.config), a Windows service's state and start mode, an IIS application pool's state.
 */
/**
 * A closed set of words as a string pattern: unlike a union of literals it does not take part in telling the
 * branches of hostStateSchema apart, so a wrong value is reported on its own field.
 */
function oneOf<const T extends readonly string[]>(values: T) {
  return Type.Unsafe<T[number]>(
    withMessage(Type.String({ pattern: `^(${values.join('|')})$` }), `must be one of: ${values.join(', ')}`),
  );
}

export const hostStateSchema = Type.Union([
  StrictObject({ kind: Type.Literal('iis_url_rewrite_rule'), site: nonEmpty, rule: rewriteRuleSchema }),
  StrictObject({
    kind: Type.Literal('windows_service'),
    name: nonEmpty,
    state: oneOf(['running', 'stopped']),
    start_mode: Type.Optional(oneOf(['automatic', 'manual', 'disabled'])),
  }),
  StrictObject({
    kind: Type.Literal('iis_app_pool'),
    name: nonEmpty,
    state: oneOf(['started', 'stopped']),
    start_mode: Type.Optional(oneOf(['OnDemand', 'AlwaysRunning'])),
    auto_start: Type.Optional(Type.Boolean()),
  }),
]);

/**
 * One step the agent runs for a mitigation: `apply` sets a host state, `check` (default: the apply state) tells
 * whether it holds, `undo` sets another state or `restore`s the one recorded before apply. Steps marked
 * `shielding` decide whether the host is shielded; the others (Managed Availability off) only support them.
 */
export const mitigationStepSchema = StrictObject({
  id: withMessage(
    Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$' }),
    'expected a lower-case id such as um-service',
  ),
  title: Type.Optional(Type.String()),
  apply: hostStateSchema,
  check: Type.Optional(hostStateSchema),
  undo: Defaulted(Type.Union([Type.Literal('restore'), hostStateSchema]), 'restore'),
  shielding: Defaulted(Type.Boolean(), true),
  /** Version ranges of the product on which this step is skipped (e.g. UM does not exist on 2019). */
  skip_on: Defaulted(Type.Array(versionRangeSchema), []),
});

export const mitigationSchema = StrictObject({
  id: nonEmpty,
  title: nonEmpty,
  cves: Type.Array(cveId, { minItems: 1 }),
  product: productId,
  description: nonEmpty,
  actions: Type.Array(mitigationActionSchema, { minItems: 1 }),
  /** What the agent runs, in order (rollback undoes them in reverse); none: the mitigation is manual only. */
  steps: Defaulted(Type.Array(mitigationStepSchema), []),
  rollback: nonEmpty,
  side_effects: Type.Optional(Type.String()),
  source: Type.Optional(Type.String()),
});

/** Slots filled by the shield and hunt capabilities: rules kept as data beside the advisory. */
export const ruleRefSchema = StrictObject({
  id: nonEmpty,
  title: nonEmpty,
  cves: Defaulted(Type.Array(cveId), []),
  format: LiteralUnion(['seclang', 'sigma', 'yara', 'bulwark-hunt']),
  /** Path relative to the advisory file, or inline content. Exactly one. */
  file: Type.Optional(nonEmpty),
  inline: Type.Optional(nonEmpty),
  notes: Type.Optional(Type.String()),
});

export const iocSchema = StrictObject({
  ips: Defaulted(Type.Array(nonEmpty), []),
  sha256: Defaulted(Type.Array(sha256), []),
  paths: Defaulted(Type.Array(nonEmpty), []),
  user_agents: Defaulted(Type.Array(nonEmpty), []),
  source: Type.Optional(Type.String()),
});

export const referenceSchema = StrictObject({
  url,
  title: Type.Optional(Type.String()),
  kind: Type.Optional(LiteralUnion(['vendor', 'cve', 'kev', 'government', 'research', 'tool', 'article'])),
});

export const advisorySchema = StrictObject({
  schema_version: Type.Literal(1),
  id: withMessage(
    Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$' }),
    'expected a lower-case id such as proxylogon-2021-03',
  ),
  title: nonEmpty,
  summary: nonEmpty,
  published: isoDate,
  /** First known in-the-wild exploitation; hunts check that logs reach back before it. */
  exploitation_start: Type.Optional(isoDate),
  /** Where this advisory came from when imported (format and file). */
  origin: Type.Optional(Type.String()),
  cves: Type.Array(cveSchema, { minItems: 1 }),
  affected: Defaulted(Type.Array(affectedSchema), []),
  fixes: Defaulted(Type.Array(fixSchema), []),
  mitigations: Defaulted(Type.Array(mitigationSchema), []),
  virtual_patches: Defaulted(Type.Array(ruleRefSchema), []),
  hunt_rules: Defaulted(Type.Array(ruleRefSchema), []),
  iocs: Type.Optional(iocSchema),
  references: Defaulted(Type.Array(referenceSchema), []),
});

export type Advisory = StaticOutput<typeof advisorySchema>;
export type AdvisoryInput = Static<typeof advisorySchema>;
export type Cve = StaticOutput<typeof cveSchema>;
export type Kev = StaticOutput<typeof kevSchema>;
export type Affected = StaticOutput<typeof affectedSchema>;
export type VersionRange = StaticOutput<typeof versionRangeSchema>;
export type Fix = StaticOutput<typeof fixSchema>;
export type FixInput = Static<typeof fixSchema>;
export type FixTarget = StaticOutput<typeof fixTargetSchema>;
export type Mitigation = StaticOutput<typeof mitigationSchema>;
export type MitigationStep = StaticOutput<typeof mitigationStepSchema>;
export type HostState = StaticOutput<typeof hostStateSchema>;
export type Reference = StaticOutput<typeof referenceSchema>;

/** The target a host state is about (kind and name), to tell whether check and undo speak of apply's target. */
function targetOf(s: HostState): string {
  return s.kind === 'iis_url_rewrite_rule' ? `${s.kind} ${s.site} ${s.rule.name}` : `${s.kind} ${s.name}`;
}

/** Step ids are unique in a mitigation; check and undo are about the same target as apply; ranges are ranges. */
function checkSteps(m: Mitigation, path: readonly PropertyKey[]): DataIssue | undefined {
  const ids = new Set<string>();
  for (const [j, step] of m.steps.entries()) {
    if (ids.has(step.id)) return { path: [...path, j, 'id'], message: `step id ${step.id} is used twice` };
    ids.add(step.id);
    const target = targetOf(step.apply);
    if (step.check && targetOf(step.check) !== target) {
      return { path: [...path, j, 'check'], message: `must check what apply sets (${target})` };
    }
    if (step.undo !== 'restore' && targetOf(step.undo) !== target) {
      return { path: [...path, j, 'undo'], message: `must undo what apply sets (${target})` };
    }
    for (const [k, r] of step.skip_on.entries()) {
      const issue = checkRange(r, [...path, j, 'skip_on', k]);
      if (issue) return issue;
    }
  }
  return undefined;
}

function checkAffected(entry: Affected, path: readonly PropertyKey[]): DataIssue | undefined {
  for (const [i, r] of entry.ranges.entries()) {
    const issue = checkRange(r, [...path, 'ranges', i]);
    if (issue) return issue;
  }
  return undefined;
}

function checkFix(fix: Fix, path: readonly PropertyKey[]): DataIssue | undefined {
  for (const [i, t] of fix.targets.entries()) {
    const issue = checkRange(t.applies_to, [...path, 'targets', i, 'applies_to']);
    if (issue) return issue;
  }
  return undefined;
}

/**
 * What the schema cannot say: each range names either `fixed` or `last_affected`, every CVE an entry names is in
 * `cves`, and no CVE is listed twice.
 */
function checkAdvisory(a: Advisory): DataIssue | undefined {
  for (const [i, entry] of a.affected.entries()) {
    const issue = checkAffected(entry, ['affected', i]);
    if (issue) return issue;
  }
  for (const [i, fix] of a.fixes.entries()) {
    const issue = checkFix(fix, ['fixes', i]);
    if (issue) return issue;
  }
  for (const [i, m] of a.mitigations.entries()) {
    for (const [j, action] of m.actions.entries()) {
      if (action.type !== 'disable_service') continue;
      for (const [k, r] of action.skip_on.entries()) {
        const issue = checkRange(r, ['mitigations', i, 'actions', j, 'skip_on', k]);
        if (issue) return issue;
      }
    }
  }
  for (const [i, m] of a.mitigations.entries()) {
    const issue = checkSteps(m, ['mitigations', i, 'steps']);
    if (issue) return issue;
  }
  const known = new Set(a.cves.map((c) => c.id));
  for (const list of ['affected', 'fixes', 'mitigations'] as const) {
    for (const [i, entry] of a[list].entries()) {
      const j = entry.cves.findIndex((id) => !known.has(id));
      if (j >= 0) return { path: [list, i, 'cves', j], message: `${entry.cves[j]} is not in cves` };
    }
  }
  const seen = new Set<string>();
  for (const [i, c] of a.cves.entries()) {
    if (seen.has(c.id)) return { path: ['cves', i, 'id'], message: `${c.id} is listed twice` };
    seen.add(c.id);
  }
  return undefined;
}

export const advisoryValidator = dataValidator(advisorySchema, { check: checkAdvisory });
export const kevValidator = dataValidator(kevSchema);
export const affectedValidator = dataValidator(affectedSchema, { check: (e) => checkAffected(e, []) });
export const fixValidator = dataValidator(fixSchema, { check: (f) => checkFix(f, []) });
export const referenceValidator = dataValidator(referenceSchema);
export const productIdValidator = dataValidator(productId);
