/** The fleet simulator (tests and benchmarks only): many simulated agents on the real agent protocol. */
export { fleetEmulators } from './emulators.js';
export { FleetHttpError } from './http.js';
export {
  type FleetHost,
  factsHash,
  factsOf,
  type HostKind,
  hostOf,
  type InventoryPlan,
} from './inventory.js';
export { DerivedKeys } from './keys.js';
export {
  FLEET_VERSION,
  Fleet,
  type FleetAgentInfo,
  type FleetEmulators,
  type FleetOptions,
  type FleetStats,
  MAX_FLEET_AGENTS,
  SOCKETS_PER_SOURCE,
} from './simulator.js';
