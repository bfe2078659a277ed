/**
 * What `bulwark gateway` says to the person running it: the start-up description (what is enforced where), the
 * open-proxy warning, and upstream failures on standard error — once per distinct cause, then at most once per
 * interval with a count, so a dead upstream under load cannot flood the terminal or the journal.
 */
import type { CompiledConfig, GatewayAddress } from '../../shield/gateway/index.js';
import { UpstreamCertificateError } from '../../shield/gateway/index.js';

/** Prints a notice the first time its key is seen, then at most once per `intervalMs` (with the repeat count). */
export class NoticeLimiter {
  private readonly seen = new Map<string, { last: number; suppressed: number }>();
  private windowStart = 0;
  private printedInWindow = 0;
  private droppedInWindow = 0;

  constructor(
    private readonly write: (text: string) => void,
    private readonly intervalMs = 60_000,
    /** Distinct notices per interval, all keys together (a flapping upstream has many messages). */
    private readonly maxPerInterval = 10,
    private readonly now: () => number = Date.now,
    /** Keys remembered at most (oldest forgotten first), so hostile variety cannot grow memory. */
    private readonly maxKeys = 1000,
  ) {}

  notice(key: string, text: (repeats: number) => string): void {
    const t = this.now();
    if (t - this.windowStart >= this.intervalMs) {
      if (this.droppedInWindow > 0)
        this.write(
          `bulwark gateway: ${this.droppedInWindow} more upstream error(s) not shown (see the access log)`,
        );
      this.windowStart = t;
      this.printedInWindow = 0;
      this.droppedInWindow = 0;
    }
    const s = this.seen.get(key);
    if (s && t - s.last < this.intervalMs) {
      s.suppressed++;
      return;
    }
    if (this.printedInWindow >= this.maxPerInterval) {
      this.droppedInWindow++;
      return;
    }
    this.printedInWindow++;
    this.write(text(s?.suppressed ?? 0));
    this.seen.delete(key);
    this.seen.set(key, { last: t, suppressed: 0 });
    if (this.seen.size > this.maxKeys) this.seen.delete(this.seen.keys().next().value!);
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Terminal-safe: control characters (an upstream's words can reach here) shown escaped. */
function clean(s: string): string {
  return s.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export interface UpstreamNotice {
  key: string;
  route: string;
  message: string;
  /** What to do about it, in the form the gateway was configured with. */
  hint: string | undefined;
  pin: string | undefined;
}

/** How the user configured the gateway: hints name flags for the quick form, keys for a config file. */
export type ConfigForm = { kind: 'quick' } | { kind: 'file'; file: string };

export function upstreamNotice(route: string, error: Error, form: ConfigForm): UpstreamNotice {
  const message = clean(error.message);
  let hint: string | undefined;
  let pin: string | undefined;
  if (error instanceof UpstreamCertificateError && error.pin) {
    pin = error.pin;
    const mismatch = /pin mismatch/.test(error.problem);
    hint =
      form.kind === 'quick'
        ? mismatch
          ? `the certificate changed: if that is expected, pass --upstream-pin ${pin}`
          : `pass --upstream-pin ${pin} (or --upstream-ca FILE with its CA or certificate, or --upstream-insecure)`
        : `set upstream pin_sha256: "${pin}" (or ca: FILE) in route ${route} of ${form.file}`;
  }
  return { key: `${route}\u0000${message}`, route, message, hint, pin };
}

export function upstreamNoticeLine(n: UpstreamNotice, repeats: number, json: boolean): string {
  if (json) {
    return JSON.stringify({
      event: 'upstream_error',
      route: n.route,
      error: n.message,
      ...(n.pin ? { pin: n.pin } : {}),
      ...(n.hint ? { hint: n.hint } : {}),
      ...(repeats ? { repeated: repeats } : {}),
    });
  }
  const again = repeats ? ` (also ${repeats} more time(s) since last said)` : '';
  return `bulwark gateway: route ${n.route}: ${n.message}; requests get 502${again}${n.hint ? ` — ${n.hint}` : ''}`;
}

export interface RouteSummary {
  name: string;
  upstream: string;
  hosts: string[] | undefined;
  pathPrefix: string;
  mode: 'enforce' | 'detect';
  advisories: string[];
  ruleFiles: string[];
  rules: number;
  insecureUpstream: boolean;
}

export function summarise(compiled: CompiledConfig): RouteSummary[] {
  return compiled.routes.map((r, i) => {
    const cfg = compiled.config.routes[i]!;
    return {
      name: r.name,
      upstream: r.upstream.label,
      hosts: r.hosts,
      pathPrefix: r.pathPrefix,
      mode: r.mode,
      advisories: cfg.advisory ?? [],
      ruleFiles: cfg.rules,
      rules: r.ruleset.rules.length,
      insecureUpstream: r.upstream.insecure,
    };
  });
}

const urlOf = (a: GatewayAddress) =>
  `${a.tls ? 'https' : 'http'}://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;

function enforced(r: RouteSummary): string {
  if (r.rules === 0) return 'NO RULES (forwards everything)';
  const verb = r.mode === 'detect' ? 'detecting only (never blocks)' : 'enforcing';
  const files = `${r.ruleFiles.length} file${r.ruleFiles.length === 1 ? '' : 's'}`;
  const rules = `${r.rules} rule${r.rules === 1 ? '' : 's'}`;
  return r.advisories.length
    ? `${verb} ${r.advisories.join(', ')} (${rules} from ${files})`
    : `${verb} ${files} (${rules})`;
}

/** Lines for people: where it listens, and per route what goes where under which rules. */
export function startupLines(addresses: GatewayAddress[], routes: RouteSummary[]): string[] {
  const lines = [`bulwark gateway listening on ${addresses.map(urlOf).join(', ')}`];
  for (const r of routes) {
    const match = [
      r.hosts ? `hosts ${r.hosts.join(', ')}` : '',
      r.pathPrefix !== '/' ? `path ${r.pathPrefix}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    lines.push(`  route ${r.name}${match ? ` (${match})` : ''} → ${r.upstream}: ${enforced(r)}`);
  }
  return lines;
}

/** One JSON object (for --json): the same facts. */
export function startupJson(addresses: GatewayAddress[], routes: RouteSummary[], warnings: string[]): string {
  return JSON.stringify({
    event: 'listening',
    listen: addresses.map(urlOf),
    routes: routes.map((r) => ({
      name: r.name,
      hosts: r.hosts ?? null,
      path_prefix: r.pathPrefix,
      upstream: r.upstream,
      mode: r.mode,
      advisories: r.advisories,
      rule_files: r.ruleFiles,
      rules: r.rules,
    })),
    warnings,
  });
}

/** Loud warnings: routes that enforce nothing, upstreams whose certificate is not checked. */
export function startupWarnings(routes: RouteSummary[]): string[] {
  const w: string[] = [];
  for (const r of routes) {
    if (r.rules === 0)
      w.push(
        `route ${r.name} has no rules: every request to ${r.upstream} is forwarded unchecked — this gateway shields nothing there`,
      );
    if (r.insecureUpstream)
      w.push(
        `route ${r.name}: the certificate of ${r.upstream} is not verified (--upstream-insecure / insecure: true): anyone on the path can read and change the traffic`,
      );
  }
  return w;
}
