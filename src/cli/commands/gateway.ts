/**
 * `bulwark gateway`: the shielding reverse proxy. Reloads its configuration on SIGHUP and when the configuration
 * or a rule file changes; a bad new configuration is reported and the running one stays. SIGINT/SIGTERM stop it
 * gracefully.
 */
import { watch } from 'node:fs';
import type { KnowledgeBase } from '../../advisories/index.js';
import {
  type AdvisoryResolver,
  type CompiledConfig,
  compileGatewayConfig,
  type GatewayConfig,
  GatewayConfigError,
  loadGatewayConfig,
  quickConfig,
  startGateway,
  UpstreamPool,
} from '../../shield/gateway/index.js';
import { SecLangError } from '../../shield/seclang/index.js';
import { EXIT, type Io, paint, UsageError } from '../io.js';
import {
  type ConfigForm,
  NoticeLimiter,
  type RouteSummary,
  startupJson,
  startupLines,
  startupWarnings,
  summarise,
  upstreamNotice,
  upstreamNoticeLine,
} from './gateway-notices.js';
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
  upstreamCa?: string;
  upstreamPin?: string;
  upstreamInsecure?: boolean;
  /** false with --no-rules: running without any rule is meant (a plain proxy). */
  rules?: boolean;
  json?: boolean;
}

/** Quick-form errors name the flag, not the config path it became. */
const FLAG_OF: Array<[string, string]> = [
  ['routes.0.upstream.url', '--upstream'],
  ['routes.0.upstream.pin_sha256', '--upstream-pin'],
  ['routes.0.upstream.ca', '--upstream-ca'],
  ['routes.0.advisory', '--advisory'],
  ['access_log', '--access-log'],
  ['audit_log', '--audit-log'],
  ['listen.0.host', '--listen'],
  ['listen.0.port', '--listen'],
];

function quickFormMessage(message: string): string {
  for (const [key, flag] of FLAG_OF)
    if (message.startsWith(`command line: ${key}:`))
      return `${flag}:${message.slice(`command line: ${key}:`.length)}`;
  return message.replace(/^command line: /, '');
}

function loadConfig(kb: KnowledgeBase, opts: GatewayCliOptions): GatewayConfig {
  const resolveAdvisory: AdvisoryResolver = (id, strict) => advisoryRuleFiles(kb, id, strict);
  if (opts.config) {
    if (opts.listen || opts.upstream)
      throw new UsageError('give either --config or --listen/--upstream, not both');
    // Ignoring one of these silently would run something else than asked (e.g. enforce when --detect was given).
    const quickOnly = [
      ['--advisory', opts.advisory],
      ['--strict', opts.strict],
      ['--detect', opts.detect],
      ['--access-log', opts.accessLog],
      ['--audit-log', opts.auditLog],
      ['--upstream-ca', opts.upstreamCa],
      ['--upstream-pin', opts.upstreamPin],
      ['--upstream-insecure', opts.upstreamInsecure],
    ].find(([, v]) => v);
    if (quickOnly)
      throw new UsageError(
        `${quickOnly[0]} is for the quick form; with --config, set it in the file instead`,
      );
    return loadGatewayConfig(opts.config, resolveAdvisory);
  }
  if (!opts.listen || !opts.upstream)
    throw new UsageError('give --config FILE, or --listen HOST:PORT and --upstream URL');
  if (opts.advisory && opts.rules === false)
    throw new UsageError('--no-rules and --advisory contradict each other: give one');
  try {
    return quickConfig({
      listen: opts.listen,
      upstream: opts.upstream,
      advisory: opts.advisory,
      strict: opts.strict,
      resolveAdvisory,
      upstreamCa: opts.upstreamCa,
      upstreamPin: opts.upstreamPin,
      upstreamInsecure: opts.upstreamInsecure,
      mode: opts.detect ? 'detect' : 'enforce',
      accessLog: opts.accessLog,
      auditLog: opts.auditLog,
    });
  } catch (err) {
    if (err instanceof GatewayConfigError) throw new GatewayConfigError(quickFormMessage(err.message));
    throw err;
  }
}

/**
 * The configuration and what each route enforces, refused when no route enforces any rule (an open proxy to the
 * upstreams) unless --no-rules says that is meant. Counted on the compiled rules, so an emptied rule file or
 * exclusions of every rule count as none; applies to reloads too, so the shield cannot be turned off by mistake.
 */
function configFrom(
  kb: KnowledgeBase,
  opts: GatewayCliOptions,
): { config: GatewayConfig; compiled: CompiledConfig; routes: RouteSummary[] } {
  try {
    const config = loadConfig(kb, opts);
    const compiled = compileGatewayConfig(config);
    const routes = summarise(compiled);
    if (opts.rules !== false && routes.every((r) => r.rules === 0)) {
      throw new UsageError(
        opts.config
          ? `${opts.config}: no route has an advisory or rules, so every request would be forwarded unchecked; add e.g. "advisory: proxylogon-2021-03" to a route, or pass --no-rules to run it as a plain proxy`
          : 'no rules: give --advisory ID (e.g. proxylogon-2021-03), or --no-rules to run a plain proxy that blocks nothing',
      );
    }
    return { config, compiled, routes };
  } catch (err) {
    if (err instanceof GatewayConfigError || err instanceof SecLangError) throw new UsageError(err.message);
    throw err;
  }
}

/** Every file the configuration depends on: itself and its routes' rule files. */
function watchedFiles(config: GatewayConfig, file?: string): string[] {
  return [...new Set([...(file ? [file] : []), ...config.routes.flatMap((r) => r.rules)])];
}

/** One connection to each upstream right away, so a wrong address or certificate is said before any request. */
function probeUpstreams(compiled: CompiledConfig, report: (route: string, e: Error) => void): void {
  for (const route of compiled.routes) {
    const pool = new UpstreamPool(route.upstream);
    pool.acquire().then(
      (lease) => {
        pool.release(lease.socket, false);
        pool.close();
      },
      (e: Error) => {
        pool.close();
        report(route.name, e);
      },
    );
  }
}

/** Runs until SIGINT/SIGTERM, or until `stop` aborts (tests run it in-process). */
export async function runGateway(
  io: Io,
  kb: KnowledgeBase,
  opts: GatewayCliOptions,
  stop?: AbortSignal,
): Promise<number> {
  const first = configFrom(kb, opts);
  let config = first.config;
  const routes = first.routes;
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    gateway = await startGateway(config);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const json = Boolean(opts.json);
  // Said once everything is in place (watchers, signal handlers): whoever waits for this line may act on it.
  const announce = () => {
    const warnings = [...startupWarnings(routes), ...gateway.warnings];
    if (json) io.err(`${startupJson(gateway.addresses, routes, warnings)}\n`);
    else {
      for (const l of startupLines(gateway.addresses, routes)) io.err(`${l}\n`);
      for (const w of warnings) io.err(`${paint(io, 'red', 'WARNING')} ${w}\n`);
    }
    probeUpstreams(first.compiled, reportUpstream);
  };

  const form: ConfigForm = opts.config ? { kind: 'file', file: opts.config } : { kind: 'quick' };
  const limiter = new NoticeLimiter((t) => io.err(`${t}\n`));
  const reportUpstream = (route: string, e: Error) => {
    const n = upstreamNotice(route, e, form);
    limiter.notice(n.key, (repeats) => upstreamNoticeLine(n, repeats, json));
  };
  gateway.onUpstreamError(reportUpstream);

  let watchers: ReturnType<typeof watch>[] = [];
  let pending: NodeJS.Timeout | undefined;
  const reload = async (why: string) => {
    try {
      const next = configFrom(kb, opts);
      await gateway.reload(next.config);
      config = next.config;
      rewatch();
      const warnings = startupWarnings(next.routes);
      if (json) io.err(`${JSON.stringify({ event: 'reloaded', why, warnings })}\n`);
      else {
        io.err(`bulwark gateway: reloaded (${why})\n`);
        for (const w of warnings) io.err(`${paint(io, 'red', 'WARNING')} ${w}\n`);
      }
    } catch (err) {
      const error = (err as Error).message;
      io.err(
        json
          ? `${JSON.stringify({ event: 'reload_refused', why, error })}\n`
          : `bulwark gateway: reload refused, the running configuration stays: ${error}\n`,
      );
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
    const end = () => {
      process.off('SIGHUP', onHup);
      process.off('SIGINT', end);
      process.off('SIGTERM', end);
      stop?.removeEventListener('abort', end);
      clearTimeout(pending);
      for (const w of watchers) w.close();
      void gateway.close().then(() => resolve(EXIT.clean));
    };
    process.on('SIGHUP', onHup);
    process.on('SIGINT', end);
    process.on('SIGTERM', end);
    if (stop?.aborted) end();
    else stop?.addEventListener('abort', end, { once: true });
    announce();
  });
}
