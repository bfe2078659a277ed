import { Type } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type AdvisoryInput, advisoryValidator } from './advisory/model.js';
import { DataFileError, parseDataText } from './datafile.js';
import {
  assetFactsSchema,
  assetFactsValidator,
  factsFileValidator,
  MAX_ASSET_PRODUCTS,
} from './exposure/facts.js';
import { Defaulted, dataValidator, LiteralUnion, SCHEMA_MESSAGE, StrictObject } from './schema.js';

const ADVISORY: AdvisoryInput = {
  schema_version: 1,
  id: 'test-adv',
  title: 'Test advisory',
  summary: 'For schema tests.',
  published: '2030-01-01',
  cves: [
    { id: 'CVE-2030-0001', cvss: { version: '3.1', vector: 'CVSS:3.1/AV:N', score: 9.8 }, cwe: ['CWE-22'] },
    { id: 'CVE-2030-0002', kev: { date_added: '2030-01-02', due_date: '2030-01-20', ransomware: 'known' } },
  ],
  affected: [
    {
      product: 'acme:widget',
      scheme: 'dotted',
      cves: ['CVE-2030-0001'],
      ranges: [{ introduced: '1.0', fixed: '1.4' }],
      versions: ['0.9.1'],
    },
  ],
  fixes: [
    {
      id: 'KB9000001',
      title: 'Widget update',
      kind: 'security_update',
      product: 'acme:widget',
      cves: ['CVE-2030-0001'],
      url: 'https://example.com/kb',
      targets: [{ applies_to: { introduced: '1.0', fixed: '1.4' }, produces: '1.4' }],
    },
  ],
  mitigations: [
    {
      id: 'm1',
      title: 'Stop it',
      cves: ['CVE-2030-0002'],
      product: 'acme:widget',
      description: 'Turn the service off.',
      actions: [
        { type: 'disable_service', services: ['widgetd'] },
        {
          type: 'iis_url_rewrite',
          site: 'Default Web Site',
          rules: [
            {
              name: 'r',
              match_url: '.*',
              conditions: [{ input: '{REQUEST_URI}', pattern: 'x' }],
              action: 'AbortRequest',
            },
          ],
        },
      ],
      rollback: 'Turn it on.',
    },
  ],
  hunt_rules: [{ id: 'h1', title: 'Hunt', format: 'sigma', inline: 'title: x' }],
  references: [{ url: 'https://example.com/advisory', kind: 'vendor' }],
};

const FACTS = {
  assets: [
    {
      id: 'exch01',
      name: 'EXCH01',
      os: { product: 'microsoft:windows_server_2019', version: '10.0.17763.1757' },
      products: [{ product: 'microsoft:exchange_server', version: '15.2.792.3' }],
      installed_kbs: ['KB5000871'],
      endpoints: ['https://mail.example.com'],
      tags: ['dmz'],
    },
    { id: 'exch02', products: [{ product: 'pkg:deb/debian/openssl', version: '1.1.1n-0+deb11u4' }] },
  ],
};

function problemOf(validator: { safeParse(value: unknown): { success: boolean } }, value: unknown): string {
  const r = validator.safeParse(value) as {
    success: boolean;
    issues?: { path: PropertyKey[]; message: string }[];
  };
  if (r.success || !r.issues) throw new Error('expected a problem');
  const { path, message } = r.issues[0]!;
  return path.length ? `${path.join('.')}: ${message}` : message;
}

describe('data validators', () => {
  it('fill in defaults, in a copy that shares nothing with the input', () => {
    const input = structuredClone(ADVISORY);
    const a = advisoryValidator.parse(input);
    expect(input).toEqual(ADVISORY);
    expect(a.virtual_patches).toEqual([]);
    expect(a.cves[1]!.cwe).toEqual([]);
    expect(a.mitigations[0]!.actions[0]).toEqual({
      type: 'disable_service',
      services: ['widgetd'],
      skip_on: [],
    });
    expect(a.mitigations[0]!.actions[1]).toMatchObject({
      rules: [{ conditions: [{ ignore_case: true }], stop_processing: false }],
    });
    a.affected[0]!.versions.push('9.9');
    a.cves[0]!.cwe.push('CWE-1');
    expect(input).toEqual(ADVISORY);
    // Each result has its own default lists.
    expect(advisoryValidator.parse(input).virtual_patches).not.toBe(a.virtual_patches);
  });

  it('fill in defaults in place for a value that is the caller own, e.g. a parsed file', () => {
    const value = structuredClone(FACTS);
    const r = factsFileValidator.safeParse(value, { inPlace: true });
    expect(r.success && r.data[1]).toBe(value.assets[1]);
    expect(value.assets[1]).toEqual({ ...FACTS.assets[1], installed_kbs: [], endpoints: [], tags: [] });
  });

  it('say what is wrong and what is allowed, by field path', () => {
    const bad = (over: object) => problemOf(advisoryValidator, { ...ADVISORY, ...over });
    expect(
      bad({ cves: [{ id: 'CVE-2030-0001', kev: { ...ADVISORY.cves[1]!.kev, ransomware: 'maybe' } }] }),
    ).toBe('cves.0.kev.ransomware: must be one of: known, unknown');
    expect(bad({ titel: 'x' })).toBe('titel: unknown field "titel" (check its spelling or remove it)');
    expect(bad({ affected: {} })).toBe('affected: expected a list of maps, not a map');
    expect(bad({ cves: [{ id: 42 }] })).toBe('cves.0.id: expected a string, not the number 42');
    expect(bad({ schema_version: 2 })).toBe('schema_version: must be 1');
    expect(bad({ published: '2030-1-1' })).toBe('published: expected a date as YYYY-MM-DD');
    expect(bad({ title: '' })).toBe('title: must not be empty');
    expect(bad({ cves: [] })).toBe('cves: must list at least one item');
    expect(bad({ references: [{ url: 'ftp://example.com/x' }] })).toBe(
      'references.0.url: expected an http(s) URL',
    );
    expect(bad({ references: [{ url: 'https://exa mple.com/' }] })).toBe(
      'references.0.url: expected an http(s) URL',
    );
  });

  it('report the problems of the union branch the value meant', () => {
    const action = (a: object) =>
      problemOf(advisoryValidator, {
        ...ADVISORY,
        mitigations: [{ ...ADVISORY.mitigations![0]!, actions: [a] }],
      });
    expect(action({ type: 'disable_service', services: [] })).toBe(
      'mitigations.0.actions.0.services: must list at least one item',
    );
    expect(action({ type: 'stop_app_pool', app_pool: 'MSExchangeOWAAppPool', services: ['x'] })).toBe(
      'mitigations.0.actions.0.services: unknown field "services" (check its spelling or remove it)',
    );
    expect(action({ type: 'reboot' })).toBe(
      'mitigations.0.actions.0.type: must be one of: iis_url_rewrite, disable_service, stop_app_pool, disable_managed_availability',
    );
    expect(action(['disable_service'])).toBe('mitigations.0.actions.0: expected a map, not a list');

    const facts = (v: unknown) => problemOf(factsFileValidator, v);
    const three = [1, 2, 3].map((n) => ({ id: `a${n}`, products: [{ product: 'Not An Id', version: '1' }] }));
    expect(facts({ assets: three })).toMatch(/^assets\.0\.products\.0\.product: expected a product id/);
    expect(facts(three)).toMatch(/^0\.products\.0\.product: expected a product id/);
    expect(facts({ id: 'a', prodcts: [] })).toBe(
      'prodcts: unknown field "prodcts" (check its spelling or remove it)',
    );
    expect(facts('exch01')).toBe('expected a map or a list of maps, not a string');
    const many = Array.from({ length: MAX_ASSET_PRODUCTS + 1 }, (_, i) => ({
      product: 'acme:widget',
      version: `1.${i}`,
    }));
    expect(facts({ id: 'a', products: many })).toBe(
      `products: must list at most ${MAX_ASSET_PRODUCTS} items`,
    );
  });

  it('run the semantic checks on the value with its defaults', () => {
    expect(
      problemOf(advisoryValidator, {
        ...ADVISORY,
        fixes: [{ ...ADVISORY.fixes![0]!, cves: ['CVE-2030-0009'] }],
      }),
    ).toBe('fixes.0.cves.0: CVE-2030-0009 is not in cves');
    expect(
      problemOf(advisoryValidator, {
        ...ADVISORY,
        affected: [{ ...ADVISORY.affected![0]!, ranges: [{ fixed: '2', last_affected: '1' }] }],
      }),
    ).toBe('affected.0.ranges.0: give either fixed or last_affected, not both');
    expect(problemOf(factsFileValidator, [{ id: 'a' }, { id: 'a' }])).toBe(
      '1.id: asset id "a" is used twice',
    );
  });

  it('count every problem of a value', () => {
    const v = dataValidator(
      StrictObject({ a: Type.String(), b: Type.Integer(), c: Defaulted(Type.Boolean(), true) }),
    );
    const r = v.safeParse({ a: 1, b: 1.5, c: 'yes', d: null });
    expect(r.success ? [] : r.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'd: unknown field "d" (check its spelling or remove it)',
      'a: expected a string, not the number 1',
      'b: expected an integer, not the number 1.5',
      'c: expected true or false, not a string',
    ]);
    expect(() => v.parse({}, 'flags')).toThrow('flags: a: required field is missing');
    expect(dataValidator(LiteralUnion(['x', 'y'])).safeParse('z')).toEqual({
      success: false,
      issues: [{ path: [], message: 'must be one of: x, y' }],
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Random mutations of valid documents: parsing returns a value that satisfies the schema, or throws a
// DataFileError, and nothing else.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Step = { at: number; op: 'delete' | 'replace' | 'add' | 'duplicate'; key: string; value: Json };

/** Every container and leaf of a document, as parent + key (the root has no parent). */
function places(doc: Json): Array<{ parent: Json[] | { [k: string]: Json }; key: string | number }> {
  const out: Array<{ parent: Json[] | { [k: string]: Json }; key: string | number }> = [];
  const walk = (v: Json) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push({ parent: v, key: i });
        walk(x);
      });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        out.push({ parent: v, key: k });
        walk(x);
      }
    }
  };
  walk(doc);
  return out;
}

function mutate(doc: Json, steps: Step[]): Json {
  const copy = structuredClone(doc);
  for (const s of steps) {
    const all = places(copy);
    if (all.length === 0) break;
    const { parent, key } = all[s.at % all.length]!;
    const p = parent as Record<string | number, Json>;
    const value = structuredClone(s.value);
    if (s.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete p[key];
    } else if (s.op === 'replace') p[key] = value;
    else if (s.op === 'duplicate' && Array.isArray(parent))
      parent.push(structuredClone(parent[key as number]!));
    else {
      const target = p[key];
      if (target !== null && typeof target === 'object' && !Array.isArray(target)) target[s.key] = value;
      else p[key] = value;
    }
  }
  return copy;
}

const step: fc.Arbitrary<Step> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('delete', 'replace', 'add', 'duplicate'),
  key: fc.oneof(
    fc.constantFrom('id', 'cves', 'type', 'ranges', 'products', 'version'),
    fc.string({ maxLength: 8 }),
  ),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
    fc.constantFrom<Json>('CVE-2030-0001', 'acme:widget', '1.0', 'KB5000871', '', [], {}, 1),
  ),
});

describe('parsing mutated documents', () => {
  const cases = [
    {
      name: 'advisory',
      doc: ADVISORY as unknown as Json,
      parse: (text: string) => parseDataText(text, 'adv.yaml', advisoryValidator),
      valid: (v: unknown) => advisoryValidator.is(v) && advisoryValidator.safeParse(v).success,
      runs: 400,
    },
    {
      name: 'facts file',
      doc: FACTS as unknown as Json,
      parse: (text: string) => parseDataText(text, 'facts.yaml', factsFileValidator),
      valid: (v: unknown) => Array.isArray(v) && v.every((a) => assetFactsValidator.is(a)),
      runs: 1000,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: returns a value that satisfies the schema or throws DataFileError, nothing else`, () => {
      fc.assert(
        fc.property(fc.array(step, { minLength: 1, maxLength: 4 }), fc.boolean(), (steps, asYaml) => {
          const doc = mutate(c.doc, steps);
          const text = asYaml ? stringify(doc) : JSON.stringify(doc);
          let value: unknown;
          try {
            value = c.parse(text);
          } catch (err) {
            if (!(err instanceof DataFileError)) throw err;
            expect(err.message).toMatch(/^(adv|facts)\.yaml(:\d+:\d+)?: /);
            return;
          }
          expect(c.valid(value)).toBe(true);
        }),
        { numRuns: c.runs },
      );
    });
  }
});

describe('the facts schema in the API', () => {
  // Fastify validates request bodies with ajv (strict mode), as server/app.ts configures it apart from its type
  // coercion (a lone value where a list is expected becomes a list), which is the API's own leniency.
  const ajv = new Ajv({ removeAdditional: false, allErrors: false, verbose: true });
  const validate = ajv.compile(assetFactsSchema);

  it('is plain JSON Schema on which ajv agrees with the compiled check, and ajv errors carry its wording', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 3 }), (steps) => {
        const asset = mutate(FACTS.assets[0] as unknown as Json, steps);
        expect(validate(structuredClone(asset))).toBe(assetFactsValidator.is(asset));
      }),
      { numRuns: 1000 },
    );
    expect(validate({ id: 'a', products: [{ product: 'Not An Id', version: '1' }] })).toBe(false);
    expect(
      (validate.errors?.[0]?.parentSchema as Record<symbol, unknown> | undefined)?.[SCHEMA_MESSAGE],
    ).toBe('expected a product id such as microsoft:exchange_server or pkg:deb/debian/openssl');
  });
});
