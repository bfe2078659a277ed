/** `bulwark lab exchange|farm`: emulated Exchange servers for tests and demos, on loopback. */
import type { KnowledgeBase } from '../../advisories/index.js';
import { terminalSafeJson } from '../../core/index.js';
import {
  type Farm,
  farmKnowledge,
  LAB_LABEL,
  labIsVulnerable,
  startExchangeEmulator,
  startFarm,
} from '../../lab/index.js';
import { type Io, UsageError } from '../io.js';

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

export async function runLabExchange(io: Io, kb: KnowledgeBase, opts: LabExchangeOptions): Promise<number> {
  let emulator: Awaited<ReturnType<typeof startExchangeEmulator>>;
  try {
    emulator = await startExchangeEmulator({ ...opts, isVulnerable: labIsVulnerable(kb) });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  io.err(`${LAB_LABEL}\n`);
  io.out(
    `${terminalSafeJson({ url: emulator.url, build: emulator.build, shielded: emulator.shielded, vulnerable: emulator.vulnerable }, 0)}\n`,
  );
  return untilSignal(() => emulator.close());
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
