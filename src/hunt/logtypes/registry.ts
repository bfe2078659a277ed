/**
 * The log types Bulwark reads, one descriptor each (see types.ts). Adding a type is one file beside this one and
 * one line in BUILTIN. The order is the order Sigma log sources list their types in (a match marked `primary`
 * first) and custom detectors run in.
 */
import type { LogType } from '../types.js';
import { exchangeEcpActivity, exchangeEcpServer } from './exchange-ecp.js';
import { exchangeHttpProxy } from './exchange-httpproxy.js';
import { exchangeOabgen } from './exchange-oabgen.js';
import { iisW3c } from './iis-w3c.js';
import type { LogSourceMatch, LogTypeDescriptor } from './types.js';
import { windowsEventCsv, windowsEventXml } from './windows-event.js';

const BUILTIN: readonly LogTypeDescriptor[] = [
  exchangeHttpProxy,
  exchangeEcpServer,
  exchangeEcpActivity,
  exchangeOabgen,
  iisW3c,
  windowsEventXml,
  windowsEventCsv,
];

const registry = new Map<LogType, LogTypeDescriptor>();
for (const d of BUILTIN) registry.set(d.type, d);

/** Every registered descriptor, in registry order. */
export function logTypes(): LogTypeDescriptor[] {
  return [...registry.values()];
}

/** The descriptor of `type`, or undefined for a type nobody registered. */
export function logTypeOf(type: LogType): LogTypeDescriptor | undefined {
  return registry.get(type);
}

/**
 * Adds a log type at run time (tests, extensions loaded in-process). Worker threads load the registry anew, so a
 * type that hunts must use is registered in BUILTIN. Returns a function that removes it again.
 */
export function registerLogType(descriptor: LogTypeDescriptor): () => void {
  if (registry.has(descriptor.type)) throw new Error(`log type ${descriptor.type} is already registered`);
  registry.set(descriptor.type, descriptor);
  return () => {
    if (registry.get(descriptor.type) === descriptor) registry.delete(descriptor.type);
  };
}

/** Coverage label of a file of `type` at `relative` (its own type's path label first, then any other's). */
export function coverageLabel(relative: string, type: LogType): string {
  const p = `/${relative.replace(/\\/g, '/')}`;
  const own = registry.get(type);
  const mine = own?.pathLabel?.(p);
  if (mine) return mine;
  for (const d of registry.values()) {
    if (d === own) continue;
    const label = d.pathLabel?.(p);
    if (label) return label;
  }
  return own?.label ?? type;
}

/** The exchange log type named by a `#Log-type:` text, from the descriptors' `exchangeLogTypes`. */
export function exchangeLogType(logType: string): LogType | undefined {
  const t = logType.toLowerCase().replace(/\s+/g, ' ');
  for (const d of registry.values()) {
    if (d.exchangeLogTypes?.some((prefix) => t.startsWith(prefix))) return d.type;
  }
  return undefined;
}

function matches(m: LogSourceMatch, category?: string, product?: string, service?: string): boolean {
  if (m.category !== undefined) {
    if (category !== m.category) return false;
    if (product !== undefined && !(m.products ?? []).includes(product)) return false;
    if (service !== undefined && !(m.services ?? []).includes(service)) return false;
    return true;
  }
  return (
    category === undefined && product === m.product && (m.service === undefined || service === m.service)
  );
}

/**
 * The types a Sigma `logsource` (lower-case category/product/service) reads and the taxonomy of its field names,
 * or the reason no registered type reads it.
 */
export function typesForLogSource(
  category: string | undefined,
  product: string | undefined,
  service: string | undefined,
): { taxonomy: LogSourceMatch['taxonomy']; types: LogType[] } | string {
  const label = [product, category, service].filter((x) => x !== undefined).join('/') || '(empty)';
  const unreadable = `log source ${label} is not a log Bulwark reads`;
  let taxonomy: LogSourceMatch['taxonomy'] | undefined;
  const types: LogType[] = [];
  for (const d of registry.values()) {
    const m = d.sigma.logsources.find((s) => matches(s, category, product, service));
    if (!m || (taxonomy !== undefined && m.taxonomy !== taxonomy)) continue;
    taxonomy = m.taxonomy;
    if (m.primary) types.unshift(d.type);
    else types.push(d.type);
  }
  if (taxonomy !== undefined) return { taxonomy, types };
  if (category === undefined && product !== undefined) {
    // A product Bulwark reads with a service it does not: name the services it does read.
    const services = [
      ...new Set(
        [...registry.values()].flatMap((d) =>
          d.sigma.logsources
            .filter((s) => s.category === undefined && s.product === product && s.service !== undefined)
            .map((s) => s.service!),
        ),
      ),
    ];
    const named = product.charAt(0).toUpperCase() + product.slice(1);
    if (services.length > 1) return `${unreadable} (Bulwark's ${named} services: ${services.join(', ')})`;
  }
  return unreadable;
}
