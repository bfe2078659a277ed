/**
 * Shared shapes of the hunt capability: log records as the parsers produce them, and findings as rules report
 * them. Parsers, the Sigma engine, native checks and reports only meet here.
 */

/**
 * Log types recognised from content (never from file names). Each has one descriptor in logtypes/registry.ts;
 * a type registered there beyond these built-in ones is any other string.
 */
export type LogType = BuiltinLogType | (string & {});

export type BuiltinLogType =
  | 'exchange-httpproxy' // Logging\HttpProxy\<Protocol>\HttpProxy_*.LOG, and Test-ProxyLogon's projected CSV output
  | 'exchange-ecp-server' // Logging\ECP\Server\ECPServer*.LOG
  | 'exchange-ecp-activity' // Logging\ECP\Activity\ECPActivity_*.LOG
  | 'exchange-oabgen' // Logging\OABGeneratorLog\*.LOG
  | 'iis-w3c' // inetpub\logs\LogFiles\W3SVC*\u_ex*.log
  | 'windows-event-xml' // wevtutil qe Application /f:xml
  | 'windows-event-csv'; // Event Viewer "Save All Events As… CSV"

export const LOG_TYPES: readonly BuiltinLogType[] = [
  'exchange-httpproxy',
  'exchange-ecp-server',
  'exchange-ecp-activity',
  'exchange-oabgen',
  'iis-w3c',
  'windows-event-xml',
  'windows-event-csv',
];

/** One parsed log record. Field names are the log's own column names (`AnchorMailbox`, `cs-uri-stem`, …). */
export interface LogRecord {
  type: LogType;
  /** Path as given by the user, with `!inner/path` for members of a zip bundle. */
  file: string;
  /** 1-based line number of the record's first line in the (decompressed) file. */
  line: number;
  /** ISO-8601 UTC timestamp of the record when the log has one. */
  timestamp?: string;
  fields: Readonly<Record<string, string>>;
  /** The raw line(s), cut to the line-length bound. */
  raw: string;
}

/** How much the parser could not use in one file: counted, sampled, never fatal. */
export interface ParseStats {
  file: string;
  type?: LogType;
  bytes: number;
  lines: number;
  records: number;
  /** Lines that could not be parsed as a record (wrong field count, garbage, binary). */
  malformed: number;
  /** Lines longer than the bound, cut to it. */
  truncated: number;
  /** Up to a few samples of malformed or truncated lines: line number and the first 200 characters. */
  samples: { line: number; reason: string; text: string }[];
  /** Earliest and latest record timestamps: the log's coverage. */
  first?: string;
  last?: string;
  /** Server build recorded in the log (`#Version:` or Major/Minor/Build/Revision columns), if any. */
  build?: string;
  /** Server host name recorded in the log (ServerHostName / ServerName / s-computername), if any. */
  host?: string;
}

/** What a finding says about the server. Ordered by gravity. */
/** `context` findings (an archive under ProgramData, log gaps) are reported but never change a verdict alone. */
export type Stage = 'context' | 'probe' | 'exploitation' | 'post_exploitation';

export type Severity = 'informational' | 'low' | 'medium' | 'high' | 'critical';

/**
 * One piece of evidence a hunt found (a rule or IOC hit on a log record or file): the `findings` of the hunt
 * report. Not the exposure Finding of the server (a CVE verdict on an asset).
 */
export interface HuntFinding {
  /** Rule id (Sigma id or Bulwark rule id). */
  rule: string;
  title: string;
  /** Where the rule came from: `advisory proxylogon-2021-03`, `sigma <path>`, `ioc`. */
  source: string;
  cve: string | null;
  severity: Severity;
  stage: Stage;
  host: string;
  file: string;
  line: number;
  timestamp: string | null;
  raw: string;
  /** The parsed fields the rule looked at, with their values. */
  matched: Record<string, string>;
  /** Client address of the request, when the record has one. */
  client?: string;
  /** Rule author, kept in every finding as the Sigma rules' licence (DRL 1.1) asks. */
  author?: string;
}
