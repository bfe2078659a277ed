import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type Catalog, type CatalogTrain, catalogValidator } from '../../core/index.js';

const text = readFileSync(new URL('./exchange.yaml', import.meta.url), 'utf8');
const catalog: Catalog = catalogValidator.parse(parse(text));

/** Exchange builds are always four dot-separated integers, not zero-padded in this file. */
function parts(build: string): number[] {
  expect(build, `build ${build}`).toMatch(/^(0|[1-9]\d*)(\.(0|[1-9]\d*)){3}$/);
  return build.split('.').map(Number);
}

/** Local numeric comparator (the shared version module is written elsewhere). */
function compare(a: string, b: string): number {
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < 4; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function isRealDate(date: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dt = new Date(Date.UTC(y, mo - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === mo - 1 && dt.getUTCDate() === d;
}

function trainById(id: string): CatalogTrain {
  const train = catalog.trains.find((t) => t.id === id);
  if (!train) throw new Error(`train ${id} missing`);
  return train;
}

// the Exchange build numbers table (Microsoft Learn): CU RTM build and its March 2021 security update (KB5000871).
const MARCH_2021: [id: string, rtm: string, mar21su: string][] = [
  ['exchange-2013-sp1', '15.0.847.32', '15.0.847.64'],
  ['exchange-2013-cu21', '15.0.1395.4', '15.0.1395.12'],
  ['exchange-2013-cu22', '15.0.1473.3', '15.0.1473.6'],
  ['exchange-2013-cu23', '15.0.1497.2', '15.0.1497.12'],
  ['exchange-2016-cu8', '15.1.1415.2', '15.1.1415.10'],
  ['exchange-2016-cu9', '15.1.1466.3', '15.1.1466.16'],
  ['exchange-2016-cu10', '15.1.1531.3', '15.1.1531.12'],
  ['exchange-2016-cu11', '15.1.1591.10', '15.1.1591.18'],
  ['exchange-2016-cu12', '15.1.1713.5', '15.1.1713.10'],
  ['exchange-2016-cu13', '15.1.1779.2', '15.1.1779.8'],
  ['exchange-2016-cu14', '15.1.1847.3', '15.1.1847.12'],
  ['exchange-2016-cu15', '15.1.1913.5', '15.1.1913.12'],
  ['exchange-2016-cu16', '15.1.1979.3', '15.1.1979.8'],
  ['exchange-2016-cu17', '15.1.2044.4', '15.1.2044.13'],
  ['exchange-2016-cu18', '15.1.2106.2', '15.1.2106.13'],
  ['exchange-2016-cu19', '15.1.2176.2', '15.1.2176.9'],
  ['exchange-2019-rtm', '15.2.221.12', '15.2.221.18'],
  ['exchange-2019-cu1', '15.2.330.5', '15.2.330.11'],
  ['exchange-2019-cu2', '15.2.397.3', '15.2.397.11'],
  ['exchange-2019-cu3', '15.2.464.5', '15.2.464.15'],
  ['exchange-2019-cu4', '15.2.529.5', '15.2.529.13'],
  ['exchange-2019-cu5', '15.2.595.3', '15.2.595.8'],
  ['exchange-2019-cu6', '15.2.659.4', '15.2.659.12'],
  ['exchange-2019-cu7', '15.2.721.2', '15.2.721.13'],
  ['exchange-2019-cu8', '15.2.792.3', '15.2.792.10'],
];

describe('Exchange build catalog (exchange.yaml)', () => {
  it('validates against catalogSchema and has the expected header', () => {
    expect(catalog.id).toBe('exchange');
    expect(catalog.product).toBe('microsoft:exchange_server');
    expect(catalog.scheme).toBe('exchange');
    expect(catalog.sources.length).toBeGreaterThanOrEqual(2);
  });

  it.each(MARCH_2021)('%s: RTM %s and Mar21SU %s (KB5000871)', (id, rtm, mar21) => {
    const train = trainById(id);
    expect(train.build).toBe(rtm);
    const su = train.updates.find((u) => u.name === 'Mar21SU');
    expect(su?.build).toBe(mar21);
    expect(su?.kb).toBe('KB5000871');
  });

  it('names 2013 SP1 as SP1 and says it is CU4', () => {
    const sp1 = trainById('exchange-2013-sp1');
    expect(sp1.name).toBe('SP1');
    expect(sp1.notes).toMatch(/CU4/);
  });

  it('follows the CVE record for 2016 CU8/CU9 and names the HealthChecker values', () => {
    for (const [id, hcBuild] of [
      ['exchange-2016-cu8', '15.1.1415.8'],
      ['exchange-2016-cu9', '15.1.1466.13'],
    ] as const) {
      const su = trainById(id).updates.find((u) => u.name === 'Mar21SU');
      expect(su?.notes).toMatch(/CVE record/);
      expect(su?.notes).toContain(hcBuild);
    }
  });

  it('has the CUs that already contain the March 2021 fixes', () => {
    const cu20 = trainById('exchange-2016-cu20');
    expect(cu20.build).toBe('15.1.2242.4');
    expect(cu20.released).toBe('2021-03-16');
    expect(cu20.updates.some((u) => u.name === 'Mar21SU')).toBe(false);
    const cu9 = trainById('exchange-2019-cu9');
    expect(cu9.build).toBe('15.2.858.5');
    expect(cu9.released).toBe('2021-03-16');
  });

  it('has Exchange 2010 SP3 with RU1..RU32, RU31 14.3.509.0 and RU32 14.3.513.0 (KB5000978)', () => {
    const sp3 = trainById('exchange-2010-sp3');
    expect(sp3.build).toBe('14.3.123.4');
    for (let n = 1; n <= 32; n++) expect(sp3.updates.some((u) => u.name === `RU${n}`)).toBe(true);
    expect(sp3.updates.find((u) => u.name === 'RU31')?.build).toBe('14.3.509.0');
    const ru32 = sp3.updates.find((u) => u.name === 'RU32');
    expect(ru32?.build).toBe('14.3.513.0');
    expect(ru32?.kb).toBe('KB5000978');
  });

  it('has every CU of each product line', () => {
    const names = (line: string) => catalog.trains.filter((t) => t.product_name === line).map((t) => t.name);
    const cus = (n: number) => Array.from({ length: n }, (_, i) => `CU${i + 1}`);
    expect(names('Exchange Server 2013')).toEqual(['RTM', ...cus(23).map((c) => (c === 'CU4' ? 'SP1' : c))]);
    expect(names('Exchange Server 2016')).toEqual(['RTM', ...cus(23)]);
    expect(names('Exchange Server 2019')).toEqual(['RTM', ...cus(15)]);
  });

  it('gives every Mar21SU the KB5000871', () => {
    const mar21 = catalog.trains.flatMap((t) => t.updates.filter((u) => u.name === 'Mar21SU'));
    expect(mar21.length).toBe(MARCH_2021.length);
    for (const su of mar21) expect(su.kb).toBe('KB5000871');
  });

  it('lists no build twice and no train id or update name twice', () => {
    const builds = catalog.trains.flatMap((t) => [t.build, ...t.updates.map((u) => u.build)]);
    const dupes = builds.filter((b, i) => builds.indexOf(b) !== i);
    expect(dupes).toEqual([]);
    const ids = catalog.trains.map((t) => t.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const t of catalog.trains) {
      const names = t.updates.map((u) => u.name);
      expect(new Set(names).size, t.id).toBe(names.length);
    }
  });

  it('has strictly increasing builds within each train, all above the train build', () => {
    for (const t of catalog.trains) {
      let previous = t.build;
      for (const u of t.updates) {
        expect(compare(u.build, previous), `${t.id} ${u.name} ${u.build} after ${previous}`).toBeGreaterThan(
          0,
        );
        previous = u.build;
      }
    }
  });

  it('has trains in increasing build order per product line, each train above the previous train and its updates', () => {
    const lines = new Map<string, CatalogTrain[]>();
    for (const t of catalog.trains) lines.set(t.product_name, [...(lines.get(t.product_name) ?? []), t]);
    for (const [line, trains] of lines) {
      for (let i = 1; i < trains.length; i++) {
        const prev = trains[i - 1]!;
        const cur = trains[i]!;
        expect(compare(cur.build, prev.build), `${line}: ${cur.id} after ${prev.id}`).toBeGreaterThan(0);
      }
      // Builds of different trains never interleave: a CU's RTM build is above every build of older CUs.
      const maxOf = (t: CatalogTrain) => [t.build, ...t.updates.map((u) => u.build)].sort(compare).at(-1)!;
      for (let i = 1; i < trains.length; i++) {
        expect(compare(trains[i]!.build, maxOf(trains[i - 1]!)), `${line}: ${trains[i]!.id}`).toBeGreaterThan(
          0,
        );
      }
    }
  });

  it('has real calendar dates, updates on or after their train', () => {
    for (const t of catalog.trains) {
      if (t.released) expect(isRealDate(t.released), `${t.id} ${t.released}`).toBe(true);
      for (const u of t.updates) {
        if (!u.released) continue;
        expect(isRealDate(u.released), `${t.id} ${u.name} ${u.released}`).toBe(true);
        if (t.released) expect(u.released >= t.released, `${t.id} ${u.name} ${u.released}`).toBe(true);
      }
    }
    expect(isRealDate('2021-02-29')).toBe(false);
    expect(isRealDate('2020-02-29')).toBe(true);
  });

  it('gives every CU a KB and a release date except where the notes say why', () => {
    for (const t of catalog.trains) {
      expect(t.released, t.id).toBeDefined();
      if (!t.kb && t.name !== 'RTM') expect(t.notes, t.id).toMatch(/KB/);
    }
  });
});
