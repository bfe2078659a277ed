/** The pure domain: version orders, the advisory and catalog models, exposure verdicts. No I/O. */
export * from './advisory/model.js';
export { type BuildInfo, type CatalogEntry, CatalogIndex, describeEntry } from './catalog/lookup.js';
export * from './catalog/model.js';
export { CVE_ID_PATTERN, CVE_ID_RE, isCveId } from './cve.js';
export {
  DataFileError,
  type DataIssue,
  formatPath,
  MAX_DATA_FILE_BYTES,
  moreProblems,
  parseDataText,
} from './datafile.js';
export * from './escape.js';
export * from './exposure/index.js';
export * from './logformats.js';
export { type CidrRange, inCidr, isLoopback, parseCidr, parseIp } from './net.js';
export { EXCHANGE_PRODUCT } from './products.js';
export {
  type DataResult,
  type DataValidator,
  type DataValidatorOptions,
  Defaulted,
  dataValidator,
  LiteralUnion,
  SCHEMA_MESSAGE,
  type StaticOutput,
  StrictObject,
  type TDefaulted,
  withMessage,
} from './schema.js';
export * from './versions/index.js';
