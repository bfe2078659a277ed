/** Lab fixtures (tests and demos only): the Exchange emulator and emulator farms. */
export { generateLabCertificate, type LabTls, labCertificate } from './cert.js';
export {
  DEFAULT_SERVER_NAME,
  type ExchangeEmulator,
  type ExchangeEmulatorOptions,
  LAB_HEADER,
  LAB_LABEL,
  LabConfigError,
  parseExchangeBuild,
  startExchangeEmulator,
} from './exchange.js';
export {
  FARM_STATES,
  type Farm,
  type FarmOptions,
  type FarmServer,
  type FarmState,
  farmAddress,
  groupCatalogByCu,
  MAX_FARM_SIZE,
  openFilesLimit,
  planFarm,
  startFarm,
} from './farm.js';
export { farmKnowledge, labIsVulnerable } from './knowledge.js';
export { HTTPPROXY_FIELDS, LabLogWriter, W3C_FIELDS } from './logs.js';
