/** Compromise assessment over logs and files: parsers, Sigma rules, native checks, verdicts and reports. */
export { type ArchiveLimits, DEFAULT_ARCHIVE_LIMITS } from './archive.js';
export type { HostReport, HostVerdict } from './assess.js';
export { type HuntConfig, huntConfig } from './config.js';
export { type HuntOptions, hunt } from './hunt.js';
export type { HuntResult } from './report/model.js';
export { hostReportUploads } from './report/push.js';
export { renderCsv, renderHtml, renderText } from './report/render.js';
export type { HuntFinding, LogRecord, LogType } from './types.js';
