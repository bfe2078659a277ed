/**
 * Column lists and name tables the detector and parsers share. Column names are the logs' own; the only renames
 * are the alias table for reduced excerpts (documented below) and the fixed names given to Windows event fields.
 */

/** HttpProxy log columns of Exchange 2016 CU22 / 2019 (74), in file order. Older builds write a prefix of it. */
import { HTTPPROXY_FIELDS as CORE_HTTPPROXY_FIELDS, IIS_EXCHANGE_FIELDS } from '../../core/index.js';

export const HTTPPROXY_FIELDS: readonly string[] = CORE_HTTPPROXY_FIELDS;

/**
 * A headerless HttpProxy row needs at least this many values (through `HttpStatus`) to be mapped by position onto
 * the prefix of HTTPPROXY_FIELDS.
 */
export const HTTPPROXY_MIN_POSITIONAL = 20;

/** ECP Server and ECP Activity logs. */
export const ECP_FIELDS: readonly string[] = ['TimeStamp', 'ServerName', 'EventId', 'EventData'];

/** Columns of the "reduced" ECP excerpt format (timestamp, then the EventData text). */
export const ECP_REDUCED_FIELDS: readonly string[] = ['TimeStamp', 'EventData'];

/**
 * OAB Generator log (`#Log-type: OAB Generator Log`), used only when a file has no `#Fields:` line. Taken from the
 * log schema of Exchange's OABLogger (fields Timestamp, RecordType, TraceId, OabGuid, AddressListGuid, Message).
 */
export const OABGEN_FIELDS: readonly string[] = [
  'Timestamp',
  'RecordType',
  'TraceId',
  'OabGuid',
  'AddressListGuid',
  'Message',
];

/** Exchange's default IIS W3C field list (front end and back end sites). */
export const IIS_DEFAULT_FIELDS: readonly string[] = IIS_EXCHANGE_FIELDS;

/** Field names of Windows event records, whether from wevtutil XML or an Event Viewer / Export-Csv CSV. */
export const EVENT_FIELDS: readonly string[] = [
  'Provider',
  'Source',
  'EventID',
  'Level',
  'TimeCreated',
  'Computer',
  'Channel',
  'EventRecordID',
  'Task',
  'Keywords',
  'Message',
];

const HTTPPROXY_CANONICAL = new Map(HTTPPROXY_FIELDS.map((f) => [f.toLowerCase(), f]));

/**
 * Header names of reduced HttpProxy excerpts (e.g. HelseCERT's `timestamp,hostname,urlpath,useragent,
 * httpstatuskode,http-metode`) mapped onto the real column names, so the same rules apply. Keys are lower case.
 */
export const HTTPPROXY_ALIASES: ReadonlyMap<string, string> = new Map([
  ['timestamp', 'DateTime'],
  ['hostname', 'UrlHost'],
  ['urlpath', 'UrlStem'],
  ['useragent', 'UserAgent'],
  ['user-agent', 'UserAgent'],
  ['httpstatuskode', 'HttpStatus'],
  ['httpstatuscode', 'HttpStatus'],
  ['http-metode', 'Method'],
  ['http-method', 'Method'],
  ['clientip', 'ClientIpAddress'],
  ['client-ip', 'ClientIpAddress'],
]);

/** The canonical HttpProxy name of a header name (exact, case-insensitive, or alias), and whether it was an alias. */
export function httpProxyName(name: string): { name: string; alias: boolean } | undefined {
  const lower = name.toLowerCase();
  const canonical = HTTPPROXY_CANONICAL.get(lower);
  if (canonical) return { name: canonical, alias: false };
  const alias = HTTPPROXY_ALIASES.get(lower);
  if (alias) return { name: alias, alias: true };
  return undefined;
}

/** Column names (case-insensitive) that carry a record's timestamp, in order of preference. */
export const TIMESTAMP_COLUMNS: readonly string[] = ['datetime', 'timestamp', 'date-time', 'timecreated'];
