import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ID_PATTERN } from '../api/index.js';
import { parseTargetMap, TARGET_MAP_ID_PATTERN } from './target-map.js';
import type { Target } from './targets.js';

const brief = (t: Target) =>
  `${t.host}${t.port ? `:${t.port}` : ''} ${t.tenant ?? '-'} ${t.asset ?? '-'} ${t.origin ?? '-'}`;

describe('targets file mapping targets to tenants (CSV)', () => {
  it('reads target,tenant[,asset] rows, with or without a header, comments and quotes', () => {
    const text = [
      '# customers scanned nightly',
      'target,tenant,asset',
      'mail.contoso.com,contoso,mail01',
      '',
      '"203.0.113.5:8443",fabrikam',
      ' 198.51.100.0/30 , fabrikam ,',
    ].join('\r\n');
    const r = parseTargetMap(text, 'customers.csv');
    expect(r.errors).toEqual([]);
    expect(r.targets.map(brief)).toEqual([
      'mail.contoso.com contoso mail01 customers.csv:3',
      '203.0.113.5:8443 fabrikam - customers.csv:5',
      '198.51.100.1 fabrikam - customers.csv:6',
      '198.51.100.2 fabrikam - customers.csv:6',
    ]);
    const reordered = parseTargetMap('tenant,asset,target\nacme,,10.0.0.1\n', 'x.csv');
    expect(reordered.targets.map(brief)).toEqual(['10.0.0.1 acme - x.csv:2']);
    const noHeader = parseTargetMap('10.0.0.1,acme\n', 'x.csv');
    expect(noHeader.targets.map(brief)).toEqual(['10.0.0.1 acme - x.csv:1']);
  });

  it('names file, line and field for every mistake', () => {
    const text = [
      'target,tenant,asset',
      'mail.contoso.com,,mail01', // 2: no tenant
      'mail.contoso.com:99999,contoso', // 3: bad port
      'owa.fabrikam.com,fab rikam', // 4: bad tenant id
      '10.0.0.0/29,acme,mail01', // 5: an asset bound to a range
      'a.test,acme,b.test,extra', // 6: too many fields
      '"a.test,acme', // 7: quote left open
      'b.test,acme,-bad', // 8: bad asset id
    ].join('\n');
    const r = parseTargetMap(text, 'customers.csv');
    expect(r.errors).toEqual([
      'customers.csv:2: tenant: missing (the tenant id the results are pushed to)',
      'customers.csv:3: target: mail.contoso.com:99999: port 99999 is out of range (1-65535)',
      'customers.csv:4: tenant: "fab rikam" is not a tenant id (a letter or digit, then letters, digits, . _ : - (at most 128))',
      'customers.csv:5: asset: "mail01" binds one endpoint, but "10.0.0.0/29" is 6 targets; give one address and port',
      'customers.csv:6: row: 4 field(s); expected target,tenant,asset',
      'customers.csv:7: field 1: a quoted field is not closed on this line',
      'customers.csv:8: asset: "-bad" is not an asset id (a letter or digit, then letters, digits, . _ : - (at most 128))',
    ]);
  });

  it('refuses one endpoint mapped to two tenants and one asset bound to two endpoints; drops exact repeats', () => {
    const r = parseTargetMap(
      ['a.test,acme', 'a.test,acme', 'a.test,globex', 'b.test,acme,mail01', 'c.test,acme,mail01'].join('\n'),
      'm.csv',
    );
    expect(r.errors).toEqual([
      'm.csv:3: target: a.test: already given at m.csv:1 for tenant acme; one endpoint is pushed to one place',
      'm.csv:5: asset: "mail01" is already bound to b.test at m.csv:4; an asset takes one endpoint\'s observations',
    ]);
    expect(r.targets.map(brief)).toEqual(['a.test acme - m.csv:1', 'b.test acme mail01 m.csv:4']);
  });

  it('refuses an unknown header column and an empty file', () => {
    expect(parseTargetMap('target,customer\n', 'h.csv').errors[0]).toBe(
      'h.csv:1: header: unknown column "customer" (known: target, tenant, asset)',
    );
    expect(parseTargetMap('# nothing\n\n', 'e.csv').errors).toEqual([
      'e.csv: no targets (expected rows of target,tenant[,asset])',
    ]);
  });

  it('uses the server id rule for tenants and assets', () => {
    expect(TARGET_MAP_ID_PATTERN).toBe(ID_PATTERN);
  });
});

describe('targets file mapping targets to tenants (YAML)', () => {
  it('reads a list of {target, tenant, asset?} or {targets: [...]}', () => {
    const list = parseTargetMap(
      '- target: mail.contoso.com\n  tenant: contoso\n  asset: mail01\n- {target: "10.0.0.1:8443", tenant: "007"}\n',
      'c.yaml',
    );
    expect(list.errors).toEqual([]);
    expect(list.targets.map(brief)).toEqual([
      'mail.contoso.com contoso mail01 c.yaml:1',
      '10.0.0.1:8443 007 - c.yaml:4',
    ]);
    const wrapped = parseTargetMap('targets:\n  - target: a.test\n    tenant: 007\n', 'c.yml');
    expect(wrapped.targets.map(brief)).toEqual(['a.test 007 - c.yml:2']);
  });

  it('names file, line and field for every mistake', () => {
    const r = parseTargetMap(
      [
        '- target: a.test', // 1
        '  tenant: acme',
        '- target: b.test', // 3
        '  customer: acme', // 4: unknown field
        '- target: [x]', // 5: not text
        '  tenant: acme',
        '- target: c.test:0', // 7: bad port
        '  tenant: acme',
        '- just a string', // 9
      ].join('\n'),
      'c.yaml',
    );
    expect(r.errors).toEqual([
      'c.yaml:4: customer: unknown field (known: target, tenant, asset)',
      'c.yaml:5: target: expected text',
      'c.yaml:7: target: c.test:0: port 0 is out of range (1-65535)',
      'c.yaml:9: row: expected a map {target, tenant, asset?}',
    ]);
    expect(parseTargetMap('- target: a\n  tenant: [\n', 'bad.yaml').errors[0]).toMatch(
      /^bad\.yaml:\d+: yaml: /,
    );
    expect(parseTargetMap('hosts: []\n', 'h.yaml').errors[0]).toMatch(/^h\.yaml:1: yaml: expected a list/);
  });
});

// ---------------------------------------------------------------- properties

const idArb = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$/);
const hostArb = fc.oneof(
  fc.ipV4(),
  fc.tuple(fc.ipV4(), fc.integer({ min: 1, max: 65535 })).map(([a, p]) => `${a}:${p}`),
  fc.domain().filter((d) => d.length < 200),
);
const rowArb = fc.record({
  target: hostArb,
  tenant: idArb,
  asset: fc.option(idArb, { nil: undefined }),
});

function csvCell(s: string, quote: boolean): string {
  return quote || /[",]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The located-error shape every message must have: `file:line: ` (or `file: ` for the whole file). */
function located(e: string, file: string, lines: number): boolean {
  const m = /^(.+?):(\d+): \S/.exec(e);
  if (!m) return e.startsWith(`${file}: `);
  return m[1] === file && Number(m[2]) >= 1 && Number(m[2]) <= lines;
}

/** Bounded in CI; `BULWARK_PROPERTY_RUNS=20000` for a long local run (no time limit then). */
const LONG_RUNS = process.env.BULWARK_PROPERTY_RUNS ? Number(process.env.BULWARK_PROPERTY_RUNS) : undefined;
const bounded = (runs: number) =>
  LONG_RUNS ? { numRuns: LONG_RUNS } : { numRuns: runs, interruptAfterTimeLimit: 10_000 };
const LONG_TIMEOUT = LONG_RUNS ? 3_600_000 : undefined;

describe('targets file properties', () => {
  it(
    'valid rows written as CSV (header or not, quotes, CRLF, comments) or YAML read back as written',
    () => {
      fc.assert(
        fc.property(
          fc.uniqueArray(rowArb, { minLength: 1, maxLength: 8, selector: (r) => r.target.toLowerCase() }),
          fc.boolean(),
          fc.boolean(),
          fc.constantFrom('\n', '\r\n'),
          (rows0, header, quote, eol) => {
            // An asset binds one endpoint: keep asset ids unique per tenant.
            const used = new Set<string>();
            const rows = rows0.map((r) => {
              const key = `${r.tenant}/${r.asset}`;
              if (r.asset === undefined || used.has(key)) return { ...r, asset: undefined };
              used.add(key);
              return r;
            });
            const want = rows.map((r) => `${r.tenant} ${r.asset ?? '-'}`);
            const csv = [
              '# generated',
              ...(header ? ['target,tenant,asset'] : []),
              ...rows.map((r) => [r.target, r.tenant, r.asset ?? ''].map((c) => csvCell(c, quote)).join(',')),
            ].join(eol);
            const fromCsv = parseTargetMap(csv, 't.csv');
            expect(fromCsv.errors).toEqual([]);
            expect(fromCsv.targets.map((t) => `${t.tenant} ${t.asset ?? '-'}`)).toEqual(want);
            const yaml = rows
              .map(
                (r) =>
                  `- target: ${JSON.stringify(r.target)}\n  tenant: ${JSON.stringify(r.tenant)}${r.asset ? `\n  asset: ${JSON.stringify(r.asset)}` : ''}`,
              )
              .join('\n');
            const fromYaml = parseTargetMap(yaml, 't.yaml');
            expect(fromYaml.errors).toEqual([]);
            expect(fromYaml.targets).toEqual(
              fromCsv.targets.map((t) => ({ ...t, origin: expect.stringMatching(/^t\.yaml:\d+$/) })),
            );
          },
        ),
        bounded(150),
      );
    },
    LONG_TIMEOUT,
  );

  it(
    'any text gives targets with a valid tenant or errors that each name file:line inside the file',
    () => {
      const piece = fc.oneof(
        fc.constantFrom(
          ',',
          '"',
          '""',
          '#',
          ' ',
          '\n',
          '\r\n',
          'target',
          'tenant',
          'asset',
          '- ',
          ': ',
          '{',
          '[',
          '/24',
        ),
        hostArb,
        idArb,
        fc.string({ maxLength: 6 }),
      );
      const textArb = fc.array(piece, { maxLength: 40 }).map((p) => p.join(''));
      for (const file of ['f.csv', 'f.yaml']) {
        fc.assert(
          fc.property(textArb, (text) => {
            const r = parseTargetMap(text, file);
            const lines = text.split(/\r?\n/).length;
            for (const e of r.errors) expect(located(e, file, lines), e).toBe(true);
            if (r.errors.length === 0) {
              expect(r.targets.length).toBeGreaterThan(0);
              for (const t of r.targets) {
                expect(t.tenant).toMatch(new RegExp(TARGET_MAP_ID_PATTERN));
                expect(t.origin).toMatch(new RegExp(`^${file.replace('.', '\\.')}:\\d+$`));
              }
            }
          }),
          bounded(200),
        );
      }
    },
    LONG_TIMEOUT,
  );
});
