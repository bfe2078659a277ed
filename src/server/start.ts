/**
 * Starting the server (`bulwark serve`): opens the database (embedded SQLite under the data directory, or PostgreSQL), runs the
 * migrations, loads and synchronises the advisories, prints the setup link on a first start, listens (which
 * starts the audit chainer, the event bus and the job worker and scheduler), and shuts down gracefully on
 * SIGINT/SIGTERM (in-flight requests finish, event streams end, the background work stops, then the database
 * closes).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadMasterKey } from './agents/keys.js';
import { buildApp } from './app.js';
import { listensOnLoopbackOnly, type ServerConfig } from './config.js';
import type { AppContext } from './context.js';
import { type Db, migrate, openDatabase } from './db/connect.js';
import { acquireDataDirLock, type DataDirLock } from './lockfile.js';
import { setupInstructions } from './setup-command.js';

export interface RunningServer {
  app: FastifyInstance;
  ctx: AppContext;
  url: string;
  /** The one-time setup token, on a first start. */
  setupToken?: string;
  close(): Promise<void>;
}

export async function startServer(
  config: ServerConfig,
  options: { print?: (line: string) => void; logger?: boolean | object } = {},
): Promise<RunningServer> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const dataDir = resolve(config.data_dir);
  let lock: DataDirLock | undefined;
  let db: Db | undefined;
  let built: FastifyInstance | undefined;
  // The port is checked before anything is written: a busy port must not leave a data directory, a database
  // and its migrations behind.
  await checkPortFree(config.host, config.port);
  try {
    if (!config.database_url) lock = acquireDataDirLock(dataDir);
    // Made on the first start; a key file that cannot be read or is not a key stops the start here.
    loadMasterKey(config);
    db = await openDatabase({ url: config.database_url, dataDir, poolSize: config.database_pool_size });
    await migrate(db);
    const https = config.tls
      ? { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) }
      : undefined;
    const { app, ctx } = await buildApp({ db, config, logger: options.logger, https });
    built = app;
    await ctx.exposure.load();
    const run = config.builtin_advisories ? await ctx.exposure.syncBuiltins() : undefined;
    if (run) app.log.info({ run }, 'built-in advisories synchronised');
    const setupToken = await ctx.accounts.issueSetupToken();
    await app.listen({ host: config.host, port: config.port });
    ctx.ready = true;
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = config.public_url ?? `${config.tls ? 'https' : 'http'}://${host}:${port}`;
    print(`Bulwark server listening on ${url} (database: ${db.dialect} ${db.location})`);
    if (setupToken) for (const line of setupInstructions(url, setupToken)) print(line);
    print(`API docs: ${url}/api/docs`);
    if (!config.metrics_token && !config.metrics_public && !listensOnLoopbackOnly(config.host)) {
      print(
        'Metrics: /metrics answers 403 off this machine until metrics_token is set (or metrics_public: true)',
      );
    }
    let closing: Promise<void> | undefined;
    const openDb = db;
    const close = () => {
      closing ??= (async () => {
        ctx.ready = false;
        // Open event streams end, then jobs, the event bus and the audit chainer stop (the app's close hooks),
        // then the database closes.
        await app.close();
        await openDb.close();
        lock?.release();
      })();
      return closing;
    };
    return { app, ctx, url, setupToken, close };
  } catch (err) {
    // Closing the app stops what its ready hook started (jobs, events, the audit chainer).
    await built?.close().catch(() => {});
    await db?.close().catch(() => {});
    lock?.release();
    throw err;
  }
}

/** Fails with the listen error (EADDRINUSE, EACCES, EADDRNOTAVAIL) when host:port cannot be bound now. */
export function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
