/**
 * Lab Exchange emulators behind simulated Exchange agents (for the rollout issue): agent i's emulator answers as
 * its build; a patch restarts it on the new build at the same address, a mitigation restarts it shielded.
 */
import { type ExchangeEmulator, startExchangeEmulator } from '../exchange.js';
import type { FleetEmulators } from './simulator.js';

export function fleetEmulators(count: number, isVulnerable: (build: string) => boolean): FleetEmulators {
  const running = new Map<number, ExchangeEmulator>();
  const restart = async (index: number, change: { build?: string; shielded?: boolean }) => {
    const old = running.get(index);
    if (!old) throw new RangeError(`agent ${index} has no emulator`);
    await old.close();
    const next = await startExchangeEmulator({
      build: change.build ?? old.build,
      shielded: change.shielded ?? old.shielded,
      http: true,
      host: old.host,
      port: old.port,
      name: old.name,
      isVulnerable,
    });
    running.set(index, next);
    return { url: next.url };
  };
  return {
    count,
    async start(index, build) {
      const em = await startExchangeEmulator({ build, http: true, name: `EXCH-SIM-${index}`, isVulnerable });
      running.set(index, em);
      return { url: em.url };
    },
    patch: (index, build) => restart(index, { build }),
    async shield(index, shielded) {
      await restart(index, { shielded });
    },
    async close() {
      await Promise.all([...running.values()].map((em) => em.close()));
      running.clear();
    },
  };
}
