/**
 * `bulwark serve`: the control-plane server. Configuration from --config, BULWARK_* variables and flags (in that
 * order of precedence, lowest first); SIGINT/SIGTERM stop it gracefully.
 */
import { ConfigError, DataDirLockedError, loadServerConfig, startServer } from '../../server/index.js';
import { EXIT, type Io, UsageError } from '../io.js';

export interface ServeCliOptions {
  config?: string;
  host?: string;
  port?: string;
  database?: string;
  logLevel?: string;
  logFormat?: string;
}

export async function runServe(io: Io, dataDir: string | undefined, opts: ServeCliOptions): Promise<number> {
  let config: ReturnType<typeof loadServerConfig>;
  try {
    if (opts.port !== undefined && !/^\d{1,5}$/.test(opts.port))
      throw new ConfigError(`--port: "${opts.port}" is not a port number`);
    config = loadServerConfig({
      file: opts.config,
      env: io.env,
      overrides: {
        host: opts.host,
        port: opts.port === undefined ? undefined : Number(opts.port),
        database_url: opts.database,
        data_dir: dataDir,
        log_level: opts.logLevel as never,
        log_format: opts.logFormat as never,
      },
    });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, { print: (line) => io.out(`${line}\n`) });
  } catch (err) {
    if (err instanceof DataDirLockedError || err instanceof ConfigError) throw new UsageError(err.message);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new UsageError(`cannot listen on ${config.host}:${config.port} (${code}); choose another --port`);
    }
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
      throw new UsageError(
        `cannot listen on ${config.host}:${config.port} (${code}): no such address on this machine; check --host`,
      );
    }
    if (code === 'ECONNREFUSED' || code === '28P01' || code === '3D000') {
      throw new UsageError(
        `cannot use the database: ${(err as Error).message}; check --database / BULWARK_DATABASE_URL`,
      );
    }
    throw err;
  }
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.app.log.info('shutting down: finishing in-flight requests');
      void server.close().then(() => resolve(EXIT.clean));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
