/**
 * Test support for jobs: a second handle on a test database (another "replica" on the same PostgreSQL schema), a
 * side-effect table, and a child process running a worker from the TypeScript sources (transpiled on the fly).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import ts from 'typescript';
import type { Db } from '../db/connect.js';
import { TEST_PG_URL } from '../db/db.testkit.js';
import type { Database } from '../db/schema.js';

const SRC = fileURLToPath(new URL('../../', import.meta.url));
const ROOT = resolve(SRC, '..');

export async function currentSchema(db: Db): Promise<string> {
  const r = await sql<{ s: string }>`select current_schema() as s`.execute(db.kysely);
  return r.rows[0]!.s;
}

/** Another connection pool on the same PostgreSQL schema: a second replica. */
export function secondPgHandle(schema: string, poolSize = 4): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: TEST_PG_URL,
    max: poolSize,
    options: `-c search_path=${schema}`,
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** A table a handler writes its effect to: (job_id, owner, attempt). */
export async function createSideEffects(db: Kysely<Database>): Promise<void> {
  await sql`create table side_effects (job_id text not null, owner text not null, attempt integer not null)`.execute(
    db,
  );
}

export async function sideEffects(
  db: Kysely<Database>,
): Promise<{ job_id: string; owner: string; attempt: number }[]> {
  const r = await sql<{
    job_id: string;
    owner: string;
    attempt: number;
  }>`select job_id, owner, attempt from side_effects order by job_id`.execute(db);
  return r.rows;
}

/**
 * Transpiles `entry` and every relative import it reaches into a temporary tree (node_modules linked), so a plain
 * `node` child runs the real sources. Returns the entry's path there and a cleanup.
 */
export function transpileTree(entry: string): { file: string; dispose(): void } {
  const out = mkdtempSync(join(tmpdir(), 'bulwark-jobs-child-'));
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  const seen = new Set<string>();
  const queue = [resolve(entry)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    const js = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: false,
      },
    }).outputText;
    const target = join(out, relative(ROOT, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
    for (const m of js.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)\.js['"]/g)) {
      queue.push(resolve(dirname(file), `${m[1]}.ts`));
    }
  }
  return {
    file: join(out, relative(ROOT, resolve(entry))).replace(/\.ts$/, '.js'),
    dispose: () => rmSync(out, { recursive: true, force: true }),
  };
}

export const CHILD_ENTRY = join(SRC, 'server/jobs/worker-child.testkit.ts');
