/**
 * Log reading for `bulwark hunt`: encodings and lines (lines.ts), recognising a log from its content (detect.ts),
 * parsing lines and multi-line records into LogRecords (parsers.ts), and a whole-file convenience (log.ts).
 */
export {
  classifyCsvHeader,
  DETECT_LINES,
  type Detected,
  detectLog,
  type LineFormat,
  looksHttpProxyRow,
  looksIisLine,
} from './detect.js';
export {
  ECP_FIELDS,
  ECP_REDUCED_FIELDS,
  EVENT_FIELDS,
  HTTPPROXY_ALIASES,
  HTTPPROXY_FIELDS,
  IIS_DEFAULT_FIELDS,
  OABGEN_FIELDS,
} from './fields.js';
export {
  DEFAULT_MAX_LINE_BYTES,
  type DecodeInfo,
  decodeToUtf8Chunks,
  detectEncoding,
  type LineFlag,
  type LineOptions,
  type LineSample,
  type LineStats,
  readLines,
  splitUtf8Lines,
  type TextEncoding,
} from './lines.js';
export { HEAD_BYTES, type ParseLogResult, parseLog, readHead } from './log.js';
export {
  createLineParser,
  createRecordParser,
  DEFAULT_MAX_RECORD_CHARS,
  eventDataItems,
  eventFields,
  type LineParser,
  type LineResult,
  levelNumber,
  type RecordParser,
  type RecordParserOptions,
  recordBuild,
  recordHost,
} from './parsers.js';
export { localDateToIso, looksLikeIp, normaliseBuild, splitCsv, toIsoUtc } from './text.js';
