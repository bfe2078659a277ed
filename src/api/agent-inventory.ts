/**
 * An agent's inventory on the wire: the hash of a full report, and the diff the agent sends instead of a full
 * report once the server holds one. The agent (src/agent/inventory) builds both, the server (src/server/agents)
 * applies them, so both ends use only this module.
 *
 * Facts are compared in their canonical form (`normalizeFacts`): every list sorted, defaults present. The lists
 * are multisets, so an item present twice is kept twice.
 *
 * Not exported from src/api/index.ts: it uses node:crypto, and the console bundles src/api for the browser.
 */
import { createHash } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import type { AssetFacts, ProductFact } from '../core/exposure/facts.js';
import { productFactSchema } from '../core/exposure/facts.js';
import { canonicalJson } from './agent-protocol.js';

/** The list fields of AssetFacts a diff adds to and removes from. */
export const FACT_LISTS = ['products', 'installed_kbs', 'endpoints', 'tags'] as const;
type FactList = (typeof FACT_LISTS)[number];

/** The scalar fields a diff sets or clears (`null` clears). The asset id and tenant are the server's to set. */
export const FACT_FIELDS = ['name', 'os'] as const;

const listChange = <T extends ReturnType<typeof Type.String> | typeof productFactSchema>(item: T) =>
  Type.Optional(
    Type.Object(
      {
        add: Type.Array(item, { maxItems: 50_000 }),
        remove: Type.Array(item, { maxItems: 50_000 }),
      },
      { additionalProperties: false },
    ),
  );

export const InventoryDiffSchema = Type.Object(
  {
    v: Type.Literal(1),
    set: Type.Optional(
      Type.Object(
        {
          name: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          os: Type.Optional(Type.Union([productFactSchema, Type.Null()])),
        },
        { additionalProperties: false },
      ),
    ),
    products: listChange(productFactSchema),
    installed_kbs: listChange(Type.String()),
    endpoints: listChange(Type.String()),
    tags: listChange(Type.String()),
  },
  {
    additionalProperties: false,
    description: 'Changes to an inventory: fields set or cleared, list items added and removed (multisets)',
  },
);
export type InventoryDiff = Static<typeof InventoryDiffSchema>;

/** A diff that cannot be applied to the facts it is given (an item to remove is not there). */
export class DiffMismatchError extends Error {}

function productKey(p: ProductFact): string {
  return `${p.product}\u0000${p.name ?? '\u0001'}\u0000${p.version}`;
}

function compareProducts(a: ProductFact, b: ProductFact): number {
  const ka = productKey(a);
  const kb = productKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cleanProduct(p: ProductFact): ProductFact {
  return p.name === undefined
    ? { product: p.product, version: p.version }
    : { product: p.product, version: p.version, name: p.name };
}

/**
 * The canonical form of facts: every list present and sorted (products by id, name, version; the others by
 * text), products without undefined members. Two facts with the same content have the same canonical form.
 */
export function normalizeFacts(facts: AssetFacts): AssetFacts {
  const out: AssetFacts = {
    ...facts,
    products: (facts.products ?? []).map(cleanProduct).sort(compareProducts),
    installed_kbs: [...(facts.installed_kbs ?? [])].sort(compareText),
    endpoints: [...(facts.endpoints ?? [])].sort(compareText),
    tags: [...(facts.tags ?? [])].sort(compareText),
  };
  if (facts.os) out.os = cleanProduct(facts.os);
  for (const k of Object.keys(out) as (keyof AssetFacts)[]) if (out[k] === undefined) delete out[k];
  return out;
}

/**
 * SHA-256 hex of the canonical JSON of the facts in canonical form, without `id` and `tenant` (the server sets
 * those): what an agent reports as `hash` and the server stores as the agent's `inventory_hash`.
 */
export function factsHash(facts: AssetFacts): string {
  const { id: _id, tenant: _tenant, ...rest } = normalizeFacts(facts);
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

function keyOf(list: FactList, item: unknown): string {
  return list === 'products' ? productKey(item as ProductFact) : (item as string);
}

/** The changes that turn `before` into `after`; empty parts are left out. */
export function diffFacts(before: AssetFacts, after: AssetFacts): InventoryDiff {
  const a = normalizeFacts(before);
  const b = normalizeFacts(after);
  const diff: InventoryDiff = { v: 1 };
  const set: NonNullable<InventoryDiff['set']> = {};
  for (const field of FACT_FIELDS) {
    const x = a[field];
    const y = b[field];
    if (canonicalJson(x ?? null) !== canonicalJson(y ?? null))
      (set as Record<string, unknown>)[field] = y ?? null;
  }
  if (Object.keys(set).length) diff.set = set;
  for (const list of FACT_LISTS) {
    const counts = new Map<string, { item: unknown; n: number }>();
    for (const item of a[list] as unknown[]) {
      const k = keyOf(list, item);
      const c = counts.get(k);
      if (c) c.n++;
      else counts.set(k, { item, n: 1 });
    }
    const add: unknown[] = [];
    for (const item of b[list] as unknown[]) {
      const c = counts.get(keyOf(list, item));
      if (c && c.n > 0) c.n--;
      else add.push(item);
    }
    const remove: unknown[] = [];
    for (const { item, n } of counts.values()) for (let i = 0; i < n; i++) remove.push(item);
    if (add.length || remove.length) (diff as Record<string, unknown>)[list] = { add, remove };
  }
  return diff;
}

/**
 * `before` with the diff applied, in canonical form. Throws DiffMismatchError when the diff removes an item
 * `before` does not hold (it was made against other facts).
 */
export function applyDiff(before: AssetFacts, diff: InventoryDiff): AssetFacts {
  const out = normalizeFacts(before);
  for (const [field, value] of Object.entries(diff.set ?? {})) {
    if (value === null) delete (out as Record<string, unknown>)[field];
    else if (value !== undefined) (out as Record<string, unknown>)[field] = value;
  }
  for (const list of FACT_LISTS) {
    const change = diff[list] as { add: unknown[]; remove: unknown[] } | undefined;
    if (!change) continue;
    const items = out[list] as unknown[];
    const index = new Map<string, number[]>();
    items.forEach((item, i) => {
      const k = keyOf(list, item);
      const at = index.get(k);
      if (at) at.push(i);
      else index.set(k, [i]);
    });
    const dropped = new Set<number>();
    for (const item of change.remove) {
      const i = index.get(keyOf(list, item))?.pop();
      if (i === undefined)
        throw new DiffMismatchError(`${list}: the diff removes an item the facts do not hold`);
      dropped.add(i);
    }
    (out as Record<string, unknown>)[list] = [...items.filter((_, i) => !dropped.has(i)), ...change.add];
  }
  return normalizeFacts(out);
}
