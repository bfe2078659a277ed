/**
 * The control plane's public entry: starting the server, its configuration, and what the CLI's backup, restore
 * and audit commands use (clients talk to a running server through src/api). The HTTP app (Fastify and
 * everything behind it) loads only when a server starts, so commands that read its database stay quick to
 * start.
 */
import type { ServerConfig } from './config.js';
import type { RunningServer } from './start.js';

export { type AuditVerification, isAuditHash, verifyAudit } from './audit/log.js';
export {
  BackupError,
  backupSqlite,
  type DatabaseSummary,
  openExistingSqlite,
  PG_BACKUP_HINT,
  restoreSqlite,
} from './backup.js';
export { ConfigError, ENV_KEYS, loadServerConfig, type ServerConfig, serverConfigSchema } from './config.js';
export { isPostgresUrl, openDatabase, redactUrl, SQLITE_FILE } from './db/connect.js';
export type { Database } from './db/schema.js';
export { DataDirLockedError } from './lockfile.js';
export type { RunningServer } from './start.js';

export async function startServer(
  config: ServerConfig,
  options: { print?: (line: string) => void; logger?: boolean | object } = {},
): Promise<RunningServer> {
  const { startServer: start } = await import('./start.js');
  return start(config, options);
}
