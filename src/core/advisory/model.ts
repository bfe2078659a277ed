/**
 * The advisory model: what Bulwark knows about one vulnerability event (ProxyLogon, ProxyShell, …) as data.
 * Built-in packs, imported feeds and user files all validate against this one schema, so nothing downstream
 * is hard-wired to any single advisory.
 */
import { z } from 'zod';
import { SCHEME_IDS } from '../versions/scheme.js';

export const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD');
export const cveId = z.string().regex(/^CVE-\d{4}-\d{4,}$/, 'expected a CVE id such as CVE-2021-26855');
/**
 * Product ids are `vendor:product` as in CPE (`microsoft:exchange_server`) or a package URL without version
 * (`pkg:deb/debian/openssl`), lower case.
 */
export const productId = z
  .string()
  .regex(
    /^([a-z0-9][a-z0-9._-]*:[a-z0-9][a-z0-9._+-]*|pkg:[a-z0-9.+-]+\/[^\s@?#]+)$/,
    'expected a product id such as microsoft:exchange_server or pkg:deb/debian/openssl',
  );
export const kbId = z.string().regex(/^KB\d{6,8}$/, 'expected a Microsoft KB id such as KB5000871');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a lower-case hex SHA-256');
const url = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });
const nonEmpty = z.string().min(1, 'must not be empty');

export const schemeId = z.enum(SCHEME_IDS as [string, ...string[]]);

export const kevSchema = z.strictObject({
  date_added: isoDate,
  due_date: isoDate,
  ransomware: z.enum(['known', 'unknown']),
  required_action: z.string().optional(),
  /** Where the KEV data came from, e.g. "CISA KEV catalog 2025.08.25". */
  source: z.string().optional(),
});

export const cveSchema = z.strictObject({
  id: cveId,
  title: z.string().optional(),
  description: z.string().optional(),
  cvss: z
    .strictObject({
      version: z.enum(['2.0', '3.0', '3.1', '4.0']),
      vector: nonEmpty,
      score: z.number().min(0).max(10),
    })
    .optional(),
  cwe: z.array(z.string().regex(/^(CWE-\d+|NVD-CWE-noinfo|NVD-CWE-Other)$/, 'expected CWE-<n>')).default([]),
  /** Present when the CVE is in CISA's Known Exploited Vulnerabilities catalog. */
  kev: kevSchema.optional(),
});

/**
 * A half-open interval of one release train: `introduced` (inclusive, absent = since the beginning) up to
 * `fixed` (exclusive, the first fixed version) or `last_affected` (inclusive, when no fix exists).
 */
export const versionRangeSchema = z
  .strictObject({
    train: z.string().optional(),
    introduced: nonEmpty.optional(),
    fixed: nonEmpty.optional(),
    last_affected: nonEmpty.optional(),
  })
  .refine((r) => !(r.fixed && r.last_affected), { message: 'give either fixed or last_affected, not both' });

export const affectedSchema = z.strictObject({
  product: productId,
  /** Display name, e.g. "Microsoft Exchange Server". */
  name: z.string().optional(),
  scheme: schemeId,
  cves: z.array(cveId).min(1, 'name at least one CVE this entry is about'),
  ranges: z.array(versionRangeSchema).default([]),
  /** Explicitly affected versions (when a source lists builds rather than ranges). */
  versions: z.array(nonEmpty).default([]),
  /** Explicitly fixed versions (e.g. CSAF product_status.fixed). */
  fixed_versions: z.array(nonEmpty).default([]),
  /** Explicitly not-affected versions (e.g. CSAF known_not_affected). */
  not_affected_versions: z.array(nonEmpty).default([]),
  /**
   * A product catalog (e.g. "exchange") that lists every known version. Versions the catalog does not know
   * are never judged safe: outside an affected range they are `unknown`.
   */
  catalog: z.string().optional(),
  /**
   * What the source says about a version that is in none of `ranges`, `versions`, `fixed_versions` and
   * `not_affected_versions`. `not_affected` (the default, for hand-written files whose ranges cover the whole
   * product): such a version is fixed or not affected. `unknown` (what importers write unless the source states
   * it, e.g. a CVE record's `defaultStatus: unaffected` or OSV's complete ranges): such a version is `unknown`,
   * and a range's `fixed` bound speaks only for builds of the range's own catalog `train`.
   */
  default_status: z.enum(['not_affected', 'unknown']).optional(),
  notes: z.string().optional(),
});

export const fixTargetSchema = z.strictObject({
  /** Builds the update can be installed on. */
  applies_to: versionRangeSchema,
  /** The version after installing it, if it changes the version. */
  produces: nonEmpty.optional(),
  url: url.optional(),
  sha256: sha256.optional(),
  notes: z.string().optional(),
});

export const fixSchema = z.strictObject({
  id: nonEmpty,
  title: nonEmpty,
  kind: z.enum(['security_update', 'cumulative_update', 'package_update', 'upgrade']),
  product: productId,
  cves: z.array(cveId).min(1),
  kb: kbId.optional(),
  package: z.strictObject({ name: nonEmpty, version: nonEmpty }).optional(),
  released: isoDate.optional(),
  url: url.optional(),
  targets: z.array(fixTargetSchema).default([]),
  notes: z.string().optional(),
});

/** Host mitigations are executable by the agent later, so each action is a closed, typed vocabulary. */
const rewriteRuleSchema = z.strictObject({
  name: nonEmpty,
  match_url: nonEmpty,
  conditions: z
    .array(z.strictObject({ input: nonEmpty, pattern: nonEmpty, ignore_case: z.boolean().default(true) }))
    .min(1),
  action: z.enum(['AbortRequest', 'CustomResponse']),
  stop_processing: z.boolean().default(false),
});

export const mitigationActionSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('iis_url_rewrite'),
    site: nonEmpty,
    requires: z.string().optional(),
    rules: z.array(rewriteRuleSchema).min(1),
  }),
  z.strictObject({
    type: z.literal('disable_service'),
    services: z.array(nonEmpty).min(1),
    /** Version ranges of the product on which this action is skipped (e.g. UM does not exist on 2019). */
    skip_on: z.array(versionRangeSchema).default([]),
  }),
  z.strictObject({ type: z.literal('stop_app_pool'), app_pool: nonEmpty }),
  z.strictObject({
    type: z.literal('disable_managed_availability'),
    services: z.array(nonEmpty).min(1),
  }),
]);

export const mitigationSchema = z.strictObject({
  id: nonEmpty,
  title: nonEmpty,
  cves: z.array(cveId).min(1),
  product: productId,
  description: nonEmpty,
  actions: z.array(mitigationActionSchema).min(1),
  rollback: nonEmpty,
  side_effects: z.string().optional(),
  source: z.string().optional(),
});

/** Slots filled by the shield and hunt capabilities: rules kept as data beside the advisory. */
export const ruleRefSchema = z.strictObject({
  id: nonEmpty,
  title: nonEmpty,
  cves: z.array(cveId).default([]),
  format: z.enum(['seclang', 'sigma', 'yara', 'bulwark-hunt']),
  /** Path relative to the advisory file, or inline content. Exactly one. */
  file: nonEmpty.optional(),
  inline: nonEmpty.optional(),
  notes: z.string().optional(),
});

export const iocSchema = z.strictObject({
  ips: z.array(nonEmpty).default([]),
  sha256: z.array(sha256).default([]),
  paths: z.array(nonEmpty).default([]),
  user_agents: z.array(nonEmpty).default([]),
  source: z.string().optional(),
});

export const referenceSchema = z.strictObject({
  url,
  title: z.string().optional(),
  kind: z.enum(['vendor', 'cve', 'kev', 'government', 'research', 'tool', 'article']).optional(),
});

export const advisorySchema = z
  .strictObject({
    schema_version: z.literal(1),
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected a lower-case id such as proxylogon-2021-03'),
    title: nonEmpty,
    summary: nonEmpty,
    published: isoDate,
    /** First known in-the-wild exploitation; hunts check that logs reach back before it. */
    exploitation_start: isoDate.optional(),
    /** Where this advisory came from when imported (format and file). */
    origin: z.string().optional(),
    cves: z.array(cveSchema).min(1),
    affected: z.array(affectedSchema).default([]),
    fixes: z.array(fixSchema).default([]),
    mitigations: z.array(mitigationSchema).default([]),
    virtual_patches: z.array(ruleRefSchema).default([]),
    hunt_rules: z.array(ruleRefSchema).default([]),
    iocs: iocSchema.optional(),
    references: z.array(referenceSchema).default([]),
  })
  .superRefine((a, ctx) => {
    const known = new Set(a.cves.map((c) => c.id));
    const check = (ids: string[], path: (string | number)[]) => {
      ids.forEach((id, i) => {
        if (!known.has(id))
          ctx.addIssue({ code: 'custom', path: [...path, i], message: `${id} is not in cves` });
      });
    };
    for (const list of ['affected', 'fixes', 'mitigations'] as const) {
      a[list].forEach((entry, i) => {
        check(entry.cves, [list, i, 'cves']);
      });
    }
    const seen = new Set<string>();
    a.cves.forEach((c, i) => {
      if (seen.has(c.id))
        ctx.addIssue({ code: 'custom', path: ['cves', i, 'id'], message: `${c.id} is listed twice` });
      seen.add(c.id);
    });
  });

export type Advisory = z.infer<typeof advisorySchema>;
export type AdvisoryInput = z.input<typeof advisorySchema>;
export type Cve = z.infer<typeof cveSchema>;
export type Kev = z.infer<typeof kevSchema>;
export type Affected = z.infer<typeof affectedSchema>;
export type VersionRange = z.infer<typeof versionRangeSchema>;
export type Fix = z.infer<typeof fixSchema>;
export type FixInput = z.input<typeof fixSchema>;
export type FixTarget = z.infer<typeof fixTargetSchema>;
export type Mitigation = z.infer<typeof mitigationSchema>;
export type Reference = z.infer<typeof referenceSchema>;
