/**
 * The board's counts are stored per advisory and tenant (board_counts) and recounted when stale. Every change that
 * can move a count — a verdict written by the exposure writer, an observation recorded, an asset removed — marks
 * its advisory × tenant pairs in board_dirty in its own transaction; the board recounts the marked pairs it shows
 * before reading (repository.ts), so a read after a committed change always sees it.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import type { WriteBatch } from '../db/write-batch.js';

export interface DirtyPair {
  tenantId: string;
  advisoryId: string;
}

function rows(pairs: readonly DirtyPair[]) {
  const seen = new Map<string, { advisory_id: string; tenant_id: string; version: number }>();
  for (const p of pairs)
    seen.set(`${p.advisoryId}\u0000${p.tenantId}`, {
      advisory_id: p.advisoryId,
      tenant_id: p.tenantId,
      version: 1,
    });
  // Key order, so concurrent writers take the rows' locks in one order.
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}

const SPEC = {
  table: 'board_dirty',
  columns: ['advisory_id', 'tenant_id', 'version'],
  key: ['advisory_id', 'tenant_id'],
  add: ['version'],
  ints: ['version'],
} as const;

/** Queues the marks on a transaction's write batch. */
export function queueBoardDirty(batch: WriteBatch, pairs: readonly DirtyPair[]): void {
  batch.upsert(SPEC, rows(pairs));
}

/** Writes the marks in the caller's transaction. */
export async function markBoardDirty(
  k: Transaction<Database> | Kysely<Database>,
  pairs: readonly DirtyPair[],
): Promise<void> {
  const list = rows(pairs);
  if (!list.length) return;
  await k
    .insertInto('board_dirty')
    .values(list)
    .onConflict((oc) =>
      oc
        .columns(['advisory_id', 'tenant_id'])
        .doUpdateSet((eb) => ({ version: eb('board_dirty.version', '+', 1) })),
    )
    .execute();
}
