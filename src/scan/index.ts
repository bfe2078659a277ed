export {
  CHECK_COOKIE,
  CHECK_CVE,
  CHECK_PATH,
  type CheckResult,
  type CheckVerdict,
  proxyLogonCheck,
} from './check.js';
export { assetIdFor, hasScanFacts, scanResultsToFacts } from './facts.js';
export {
  type Fingerprint,
  type FingerprintMethod,
  type FingerprintOptions,
  fingerprint,
  type Get,
  LOGON_MARKERS,
  MANIFEST_CURRENT,
  manifestVersion,
  normaliseBuild,
} from './fingerprint.js';
export {
  DEFAULT_MAX_BODY,
  DEFAULT_TIMEOUT_MS,
  type Endpoint,
  type ErrorCode,
  type HttpOutcome,
  httpRequest,
  isInvalidName,
  type LookupFn,
  type RequestOptions,
  type TlsInfo,
} from './http.js';
export { exchangeCatalogBuilds, type ScanKnowledge, scanKnowledge } from './knowledge.js';
export { type ScanObservationContext, scanObservations } from './observations.js';
export {
  DEFAULT_CONCURRENCY,
  DEFAULT_PER_HOST,
  DEFAULT_RETRIES,
  type HostResult,
  type HostState,
  type Judgement,
  type ScanOptions,
  scanOne,
  scanTargets,
} from './scan.js';
export {
  byLine,
  parseTargetMap,
  readTargetMap,
  TARGET_MAP_ID_PATTERN,
  type TargetMapFormat,
  targetMapFormat,
} from './target-map.js';
export {
  CIDR_FORCE_LIMIT,
  CIDR_HARD_LIMIT,
  collectTargets,
  MAX_TARGETS,
  type ParseOptions,
  type ParseResult,
  parseTargets,
  parseTargetsFile,
  type Target,
  type TargetEntry,
  targetsFileEntries,
} from './targets.js';
