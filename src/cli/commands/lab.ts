/** `bulwark lab exchange|farm`: emulated Exchange servers for tests and demos, on loopback. */
import type { KnowledgeBase } from '../../advisories/index.js';
import { terminalSafeJson } from '../../core/index.js';
import { type Farm, LAB_LABEL, startExchangeEmulator, startFarm } from '../../lab/index.js';
import { CHECK_CVE } from '../../scan/index.js';
import { type Io, UsageError } from '../io.js';
import { EXCHANGE_PRODUCT } from './exchange.js';
import { scanKnowledge } from './scan.js';

export interface LabExchangeOptions {
  build: string;
  shielded?: boolean;
  http?: boolean;
  host?: string;
  port?: number;
  name?: string;
  logDir?: string;
  hideVersionHeader?: boolean;
  hideManifest?: boolean;
}

/** Runs until SIGINT/SIGTERM; resolves with the exit code. */
function untilSignal(close: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void close().then(() => resolve(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** The emulated x.js behaviour follows the CVE the active check proves, as the knowledge base judges the build. */
function isVulnerable(kb: KnowledgeBase): (build: string) => boolean {
  const { judge } = scanKnowledge(kb);
  return (build) => judge(build).vulnerable.includes(CHECK_CVE);
}

export async function runLabExchange(io: Io, kb: KnowledgeBase, opts: LabExchangeOptions): Promise<number> {
  let emulator: Awaited<ReturnType<typeof startExchangeEmulator>>;
  try {
    emulator = await startExchangeEmulator({ ...opts, isVulnerable: isVulnerable(kb) });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  io.err(`${LAB_LABEL}\n`);
  io.out(
    `${terminalSafeJson({ url: emulator.url, build: emulator.build, shielded: emulator.shielded, vulnerable: emulator.vulnerable }, 0)}\n`,
  );
  return untilSignal(() => emulator.close());
}

/** What a farm needs from the knowledge base: the catalog's Exchange builds with names, and who is vulnerable. */
export function farmKnowledge(kb: KnowledgeBase): {
  catalogBuilds: { build: string; name: string }[];
  isVulnerable: (build: string) => boolean;
} {
  const catalogBuilds = kb.catalogs
    .filter((c) => c.product === EXCHANGE_PRODUCT)
    .flatMap((c) =>
      c.trains.flatMap((t) => [
        { build: t.build, name: `${t.product_name} ${t.name}` },
        ...t.updates.map((u) => ({ build: u.build, name: `${t.product_name} ${t.name} ${u.name}` })),
      ]),
    );
  return { catalogBuilds, isVulnerable: isVulnerable(kb) };
}

export async function runLabFarm(
  io: Io,
  kb: KnowledgeBase,
  opts: { count?: number; http?: boolean; logDir?: string; sameAddress?: boolean },
): Promise<number> {
  let farm: Farm;
  try {
    farm = await startFarm({ ...opts, ...farmKnowledge(kb) });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  io.err(`${LAB_LABEL}: ${farm.servers.length} emulated servers (ground truth on standard output)\n`);
  // Server names come from the catalog, which imported data can extend: JSON exact, nothing raw for the terminal.
  io.out(`${terminalSafeJson({ servers: farm.servers }, 1)}\n`);
  return untilSignal(() => farm.close());
}
