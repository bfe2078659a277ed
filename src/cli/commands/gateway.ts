/**
 * `bulwark gateway`: the shielding reverse proxy. Reloads its configuration on SIGHUP and when the configuration
 * or a rule file changes; a bad new configuration is reported and the running one stays. SIGINT/SIGTERM stop it
 * gracefully.
 */
import { watch } from 'node:fs';
import type { KnowledgeBase } from '../../advisories/index.js';
import {
  type GatewayConfig,
  GatewayConfigError,
  loadGatewayConfig,
  quickConfig,
  startGateway,
} from '../../shield/gateway/index.js';
import { SecLangError } from '../../shield/seclang/index.js';
import { EXIT, type Io, UsageError } from '../io.js';
import { advisoryRuleFiles } from './shield.js';

export interface GatewayCliOptions {
  config?: string;
  listen?: string;
  upstream?: string;
  advisory?: string;
  strict?: boolean;
  detect?: boolean;
  accessLog?: string;
  auditLog?: string;
}

function configFrom(kb: KnowledgeBase, opts: GatewayCliOptions): GatewayConfig {
  try {
    if (opts.config) {
      if (opts.listen || opts.upstream)
        throw new UsageError('give either --config or --listen/--upstream, not both');
      return loadGatewayConfig(opts.config);
    }
    if (!opts.listen || !opts.upstream)
      throw new UsageError('give --config FILE, or --listen HOST:PORT and --upstream URL');
    return quickConfig({
      listen: opts.listen,
      upstream: opts.upstream,
      ruleFiles: opts.advisory ? advisoryRuleFiles(kb, opts.advisory, Boolean(opts.strict)) : [],
      mode: opts.detect ? 'detect' : 'enforce',
      accessLog: opts.accessLog,
      auditLog: opts.auditLog,
    });
  } catch (err) {
    if (err instanceof GatewayConfigError || err instanceof SecLangError) throw new UsageError(err.message);
    throw err;
  }
}

/** Every file the configuration depends on: itself and its routes' rule files. */
function watchedFiles(config: GatewayConfig, file?: string): string[] {
  return [...new Set([...(file ? [file] : []), ...config.routes.flatMap((r) => r.rules)])];
}

export async function runGateway(io: Io, kb: KnowledgeBase, opts: GatewayCliOptions): Promise<number> {
  let config = configFrom(kb, opts);
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    gateway = await startGateway(config);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  for (const a of gateway.addresses) io.err(`bulwark gateway listening on ${JSON.stringify(a)}\n`);

  let watchers: ReturnType<typeof watch>[] = [];
  let pending: NodeJS.Timeout | undefined;
  const reload = async (why: string) => {
    try {
      const next = configFrom(kb, opts);
      await gateway.reload(next);
      config = next;
      rewatch();
      io.err(`bulwark gateway: reloaded (${why})\n`);
    } catch (err) {
      io.err(`bulwark gateway: reload refused, the running configuration stays: ${(err as Error).message}\n`);
    }
  };
  // Editors write files in several steps: wait for them to settle before reloading.
  const soon = (why: string) => {
    clearTimeout(pending);
    pending = setTimeout(() => void reload(why), 300);
  };
  const rewatch = () => {
    for (const w of watchers) w.close();
    watchers = watchedFiles(config, opts.config).map((f) => watch(f, () => soon(`${f} changed`)));
  };
  rewatch();

  return new Promise((resolve) => {
    const onHup = () => void reload('SIGHUP');
    const stop = () => {
      process.off('SIGHUP', onHup);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      clearTimeout(pending);
      for (const w of watchers) w.close();
      void gateway.close().then(() => resolve(EXIT.clean));
    };
    process.on('SIGHUP', onHup);
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
