/**
 * A control-plane server on a first start, as `bulwark serve` runs it, listening on 127.0.0.1 with the web console:
 * a fresh database (SQLite or PostgreSQL, see src/server/db/testkit.ts), no administrator yet, and the setup link
 * the server prints.
 */
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import { loadServerConfig } from '../../src/server/config.js';
import type { AppContext } from '../../src/server/context.js';
import type { DialectName } from '../../src/server/db/connect.js';
import { openTestDb } from '../../src/server/db/db.testkit.js';
import { setupInstructions } from '../../src/server/setup-command.js';
import { DEFAULT_CONSOLE_DIR } from '../../src/server/web.js';

export const CONSOLE_DIST = DEFAULT_CONSOLE_DIR;
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ConsoleServer {
  app: FastifyInstance;
  /** The server's context, for tests that watch or hold its background work. */
  ctx: AppContext;
  url: string;
  /** The browser link of the first-start instructions (`…/setup#token=…`). */
  setupLink: string;
  dispose(): Promise<void>;
}

export async function openConsoleServer(dialect: DialectName): Promise<ConsoleServer | undefined> {
  const db = await openTestDb(dialect);
  if (!db) return undefined;
  const config = loadServerConfig({ overrides: { data_dir: db.dataDir, log_level: 'silent' } });
  const { app, ctx } = await buildApp({ db, config, logger: false });
  await ctx.exposure.load();
  await ctx.exposure.syncBuiltins();
  const token = await ctx.accounts.issueSetupToken();
  if (!token) throw new Error('a fresh database issued no setup token');
  await app.listen({ host: '127.0.0.1', port: 0 });
  ctx.ready = true;
  const address = app.server.address();
  if (!address || typeof address !== 'object') throw new Error('the server has no TCP address');
  const url = `http://127.0.0.1:${address.port}`;
  const setupLink = setupInstructions(url, token)
    .map((line) => line.trim())
    .find((line) => line.startsWith(`${url}/setup#token=`));
  if (!setupLink) throw new Error('the first-start instructions have no setup link');
  return {
    app,
    ctx,
    url,
    setupLink,
    async dispose() {
      await app.close();
      await db.dispose();
    },
  };
}
