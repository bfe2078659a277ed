import { Value } from '@sinclair/typebox/value';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AssetFacts, assetFactsValidator } from '../core/exposure/facts.js';
import {
  applyDiff,
  DiffMismatchError,
  diffFacts,
  factsHash,
  InventoryDiffSchema,
  normalizeFacts,
} from './agent-inventory.js';

const text = fc.string({ minLength: 1, maxLength: 6 });
// Few distinct values, so lists share items and hold duplicates.
const productArb = fc.record(
  {
    product: fc.constantFrom('pkg:deb/debian/libc6', 'pkg:deb/debian/openssl', 'microsoft:exchange_server'),
    version: fc.constantFrom('1.0', '2.36-9', '15.1.2176.9'),
    name: fc.constantFrom('libc6:amd64', 'libc6:i386', 'x'),
  },
  { requiredKeys: ['product', 'version'] },
);
const factsArb: fc.Arbitrary<AssetFacts> = fc.record(
  {
    id: fc.constantFrom('a', 'b'),
    name: text,
    tenant: fc.constantFrom('t1', 't2'),
    os: productArb,
    products: fc.array(productArb, { maxLength: 12 }),
    installed_kbs: fc.array(fc.constantFrom('KB5000871', 'KB5001779', 'KB123456'), { maxLength: 5 }),
    endpoints: fc.array(fc.constantFrom('https://a/', 'https://b:444/'), { maxLength: 3 }),
    tags: fc.array(fc.constantFrom('linux', 'dpkg', 'windows'), { maxLength: 3 }),
  },
  { requiredKeys: ['id'] },
) as fc.Arbitrary<AssetFacts>;

describe('inventory diff', () => {
  it('applyDiff(a, diffFacts(a, b)) equals b (canonical form) for any a and b', () => {
    fc.assert(
      fc.property(factsArb, factsArb, (a, b) => {
        const diff = diffFacts(a, b);
        expect(Value.Check(InventoryDiffSchema, diff)).toBe(true);
        // The diff never carries the identity fields: the result keeps a's id and tenant.
        const expected = normalizeFacts({ ...b, id: a.id, tenant: a.tenant });
        if (expected.tenant === undefined) delete expected.tenant;
        const got = applyDiff(a, diff);
        expect(got).toEqual(expected);
        expect(factsHash(got)).toBe(factsHash(b));
      }),
      { numRuns: 500 },
    );
  });

  it('the diff of equal facts is empty, and survives JSON', () => {
    fc.assert(
      fc.property(factsArb, factsArb, (a, b) => {
        expect(diffFacts(a, a)).toEqual({ v: 1 });
        const wire = JSON.parse(JSON.stringify(diffFacts(a, b)));
        expect(factsHash(applyDiff(a, wire))).toBe(factsHash(b));
      }),
      { numRuns: 200 },
    );
  });

  it('the hash ignores list order, id and tenant, and sees every change', () => {
    const a: AssetFacts = {
      id: 'x',
      products: [
        { product: 'pkg:deb/debian/openssl', version: '3.0.11-1~deb12u2' },
        { product: 'pkg:deb/debian/libc6', version: '2.36-9', name: 'libc6:amd64' },
      ],
      installed_kbs: ['KB5000871', 'KB5001779'],
      endpoints: [],
      tags: ['linux'],
    };
    const b = {
      ...a,
      id: 'y',
      tenant: 't',
      products: [...a.products].reverse(),
      installed_kbs: ['KB5001779', 'KB5000871'],
    };
    expect(factsHash(a)).toBe(factsHash(b));
    expect(factsHash(a)).toMatch(/^[0-9a-f]{64}$/);
    const c = { ...a, products: [{ ...a.products[0]!, version: '3.0.11-1~deb12u3' }, a.products[1]!] };
    expect(factsHash(c)).not.toBe(factsHash(a));
    // A parsed copy (defaults filled in) hashes like the original.
    const parsed = assetFactsValidator.parse({
      id: 'x',
      products: a.products,
      installed_kbs: a.installed_kbs,
      tags: ['linux'],
    });
    expect(factsHash(parsed)).toBe(factsHash(a));
  });

  it('a diff made against other facts does not apply', () => {
    const a: AssetFacts = { id: 'x', products: [], installed_kbs: [], endpoints: [], tags: [] };
    const b: AssetFacts = { ...a, products: [{ product: 'pkg:deb/debian/openssl', version: '1' }] };
    const removeOpenssl = diffFacts(b, a);
    expect(() => applyDiff(a, removeOpenssl)).toThrow(DiffMismatchError);
    expect(applyDiff(b, removeOpenssl).products).toEqual([]);
  });
});
