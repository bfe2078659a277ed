/**
 * Field mappings: how a field name in a Sigma rule reads a parsed record of each log type. A rule field without a
 * mapping for a log type makes the rule unsupported for that type (reported, never silently false).
 *
 * Values are read raw, as the log wrote them (IIS `+` for spaces in the user agent stays `+`); two comparisons are
 * made tolerant instead of decoding:
 * - user-agent fields compare ` ` and `+` as equal (IIS writes spaces as `+`, HttpProxy keeps spaces, and SigmaHQ
 *   rules use either form);
 * - the Windows `Level` compares names and numbers as equal (`Error` = `2`, as XML has numbers and Event Viewer CSV
 *   has names).
 * IIS W3C writes `-` for an empty value; it reads as empty (so `null` matches it).
 */
import { logTypeOf } from '../logtypes/registry.js';
import type { LogType } from '../types.js';
import type { Taxonomy } from './model.js';

type Fields = Readonly<Record<string, string>>;

export interface FieldAccess {
  /** The Sigma field name as written in the rule. */
  name: string;
  /** Log columns read, in order (for `matched`, and for `|exists`). */
  columns: readonly string[];
  /** The value (W3C `-` as ''), or undefined when the record has none of the columns. */
  get(fields: Fields): string | undefined;
  /** True when one of the columns is present. */
  has(fields: Fields): boolean;
  /** Normalisation applied to record values and to the literal characters of rule values. */
  norm: ((s: string) => string) | null;
  /** Values are the log's text unchanged (except prefilter-unsafe characters), so their literals can prefilter. */
  verbatim: boolean;
}

/** The Sigma `webserver` taxonomy: IIS W3C column and Exchange HttpProxy column (null: the log has no such field). */
export const WEBSERVER_FIELDS: Readonly<
  Record<string, { 'iis-w3c': string | null; 'exchange-httpproxy': string | null }>
> = {
  date: { 'iis-w3c': 'date', 'exchange-httpproxy': null },
  time: { 'iis-w3c': 'time', 'exchange-httpproxy': null },
  'c-ip': { 'iis-w3c': 'c-ip', 'exchange-httpproxy': 'ClientIpAddress' },
  'cs-username': { 'iis-w3c': 'cs-username', 'exchange-httpproxy': 'AuthenticatedUser' },
  's-sitename': { 'iis-w3c': 's-sitename', 'exchange-httpproxy': null },
  's-computername': { 'iis-w3c': 's-computername', 'exchange-httpproxy': 'ServerHostName' },
  's-ip': { 'iis-w3c': 's-ip', 'exchange-httpproxy': null },
  's-port': { 'iis-w3c': 's-port', 'exchange-httpproxy': null },
  'cs-method': { 'iis-w3c': 'cs-method', 'exchange-httpproxy': 'Method' },
  'cs-uri-stem': { 'iis-w3c': 'cs-uri-stem', 'exchange-httpproxy': 'UrlStem' },
  'cs-uri-query': { 'iis-w3c': 'cs-uri-stem ? cs-uri-query', 'exchange-httpproxy': 'UrlStem UrlQuery' },
  'cs-uri': { 'iis-w3c': 'cs-uri-stem ? cs-uri-query', 'exchange-httpproxy': 'UrlStem UrlQuery' },
  'sc-status': { 'iis-w3c': 'sc-status', 'exchange-httpproxy': 'HttpStatus' },
  'sc-substatus': { 'iis-w3c': 'sc-substatus', 'exchange-httpproxy': null },
  'sc-win32-status': { 'iis-w3c': 'sc-win32-status', 'exchange-httpproxy': null },
  'c-win32-status': { 'iis-w3c': 'sc-win32-status', 'exchange-httpproxy': null },
  'sc-bytes': { 'iis-w3c': 'sc-bytes', 'exchange-httpproxy': 'ResponseBytes' },
  'cs-bytes': { 'iis-w3c': 'cs-bytes', 'exchange-httpproxy': 'RequestBytes' },
  'time-taken': { 'iis-w3c': 'time-taken', 'exchange-httpproxy': 'TotalRequestTime' },
  'cs-version': { 'iis-w3c': 'cs-version', 'exchange-httpproxy': null },
  'cs-host': { 'iis-w3c': 'cs-host', 'exchange-httpproxy': 'UrlHost' },
  'cs-user-agent': { 'iis-w3c': 'cs(User-Agent)', 'exchange-httpproxy': 'UserAgent' },
  'cs-cookie': { 'iis-w3c': 'cs(Cookie)', 'exchange-httpproxy': null },
  'cs-referer': { 'iis-w3c': 'cs(Referer)', 'exchange-httpproxy': null },
};

/** Standard W3C extended log fields IIS can write (its own names). */
export const IIS_W3C_COLUMNS: readonly string[] = [
  'date',
  'time',
  's-sitename',
  's-computername',
  's-ip',
  'cs-method',
  'cs-uri-stem',
  'cs-uri-query',
  's-port',
  'cs-username',
  'c-ip',
  'cs-version',
  'cs(User-Agent)',
  'cs(Cookie)',
  'cs(Referer)',
  'cs-host',
  'sc-status',
  'sc-substatus',
  'sc-win32-status',
  'sc-bytes',
  'cs-bytes',
  'time-taken',
];

/** IIS custom logging fields (request/response headers, server variables): `cs(X-Forwarded-For)` and the like. */
const IIS_CUSTOM = /^(cs|sc|s|c)\([^()]+\)$/;

/** HttpProxy columns (Exchange 2016 CU22 / 2019 layout; older builds write a subset). */
export const HTTPPROXY_COLUMNS: readonly string[] = (
  'DateTime,RequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ClientRequestId,Protocol,UrlHost,' +
  'UrlStem,ProtocolAction,AuthenticationType,IsAuthenticated,AuthenticatedUser,Organization,AnchorMailbox,' +
  'UserAgent,ClientIpAddress,ServerHostName,HttpStatus,BackEndStatus,ErrorCode,Method,ProxyAction,TargetServer,' +
  'TargetServerVersion,RoutingType,RoutingHint,BackEndCookie,ServerLocatorHost,ServerLocatorLatency,' +
  'RequestBytes,ResponseBytes,TargetOutstandingRequests,AuthModulePerfContext,HttpPipelineLatency,' +
  'CalculateTargetBackEndLatency,GlsLatencyBreakup,TotalGlsLatency,AccountForestLatencyBreakup,' +
  'TotalAccountForestLatency,ResourceForestLatencyBreakup,TotalResourceForestLatency,ADLatency,' +
  'SharedCacheLatencyBreakup,TotalSharedCacheLatency,ActivityContextLifeTime,ModuleToHandlerSwitchingLatency,' +
  'ClientReqStreamLatency,BackendReqInitLatency,BackendReqStreamLatency,BackendProcessingLatency,' +
  'BackendRespInitLatency,BackendRespStreamLatency,ClientRespStreamLatency,KerberosAuthHeaderLatency,' +
  'HandlerCompletionLatency,RequestHandlerLatency,HandlerToModuleSwitchingLatency,ProxyTime,CoreLatency,' +
  'RoutingLatency,HttpProxyOverhead,TotalRequestTime,RouteRefresherLatency,UrlQuery,BackEndGenericInfo,' +
  'GenericInfo,GenericErrors,EdgeTraceId,DatabaseGuid,UserADObjectGuid,PartitionEndpointLookupLatency,' +
  'RoutingStatus'
).split(',');

/** ECP Server and ECP Activity logs; the parser also exposes each `S:KEY=value` item as `EventData.KEY`. */
export const ECP_COLUMNS: readonly string[] = ['TimeStamp', 'ServerName', 'EventId', 'EventData'];
const ECP_ITEM = /^EventData\.[A-Za-z0-9_.-]+$/;

/**
 * Windows Application log: Sigma names → record columns (the parser's names, the same for the wevtutil XML and the
 * Event Viewer CSV), first present wins. `Data` is the event data as a whole (the XML's EventData values joined),
 * falling back to the message where a CSV export has no event data.
 */
export const WINDOWS_FIELDS: Readonly<Record<string, readonly string[]>> = {
  EventID: ['EventID'],
  Provider_Name: ['Provider'],
  Provider: ['Provider'],
  Source: ['Source', 'Provider'],
  Level: ['Level'],
  LevelName: ['LevelName'],
  Message: ['Message'],
  Data: ['Data', 'Message'],
  Channel: ['Channel'],
  Computer: ['Computer'],
  Task: ['Task'],
  Keywords: ['Keywords'],
  EventRecordID: ['EventRecordID'],
  TimeCreated: ['TimeCreated'],
  Qualifiers: ['Qualifiers'],
  UserID: ['UserID'],
  Security_UserID: ['UserID'],
};

/** Event levels by name (English, as Event Viewer shows them) and number (as the XML has them). */
const LEVELS: Readonly<Record<string, string>> = {
  critical: '1',
  error: '2',
  warning: '3',
  information: '4',
  verbose: '5',
};

function levelNorm(s: string): string {
  return LEVELS[s.trim().toLowerCase()] ?? s.trim();
}

function plusSpace(s: string): string {
  return s.includes(' ') ? s.replaceAll(' ', '+') : s;
}

function column(
  name: string,
  col: string,
  opts: { dash?: boolean; norm?: (s: string) => string } = {},
): FieldAccess {
  const dash = opts.dash === true;
  return {
    name,
    columns: [col],
    get: dash
      ? (f) => {
          const v = f[col];
          return v === '-' ? '' : v;
        }
      : (f) => f[col],
    has: (f) => f[col] !== undefined,
    norm: opts.norm ?? null,
    verbatim: opts.norm === undefined || opts.norm === plusSpace,
  };
}

function firstOf(name: string, cols: readonly string[], norm?: (s: string) => string): FieldAccess {
  if (cols.length === 1) return column(name, cols[0]!, norm ? { norm } : {});
  return {
    name,
    columns: cols,
    get: (f) => {
      for (const c of cols) {
        const v = f[c];
        if (v !== undefined) return v;
      }
      return undefined;
    },
    has: (f) => cols.some((c) => f[c] !== undefined),
    norm: norm ?? null,
    verbatim: norm === undefined,
  };
}

/** Stem and query joined as the request URI: `/path?query` (the query alone when HttpProxy already starts it with `?`). */
function fullUri(name: string, stem: string, query: string, dash: boolean): FieldAccess {
  return {
    name,
    columns: [stem, query],
    get: (f) => {
      const s = f[stem];
      let q = f[query];
      if (dash && q === '-') q = '';
      if (s === undefined && q === undefined) return undefined;
      const base = s === undefined || (dash && s === '-') ? '' : s;
      if (!q) return base;
      return q.startsWith('?') ? base + q : `${base}?${q}`;
    },
    has: (f) => f[stem] !== undefined || f[query] !== undefined,
    norm: null,
    verbatim: true,
  };
}

const USER_AGENT_COLUMNS = new Set(['cs(User-Agent)', 'UserAgent']);

/** The `webserver` taxonomy's field `name` on an IIS W3C or HttpProxy record. */
export function webserverField(
  type: 'iis-w3c' | 'exchange-httpproxy',
  name: string,
): FieldAccess | undefined {
  const dash = type === 'iis-w3c';
  const mapped = Object.hasOwn(WEBSERVER_FIELDS, name) ? WEBSERVER_FIELDS[name]![type] : undefined;
  if (name === 'cs-uri-query' || name === 'cs-uri') {
    return dash
      ? fullUri(name, 'cs-uri-stem', 'cs-uri-query', true)
      : fullUri(name, 'UrlStem', 'UrlQuery', false);
  }
  if (mapped === null) return undefined;
  let col = mapped;
  if (col === undefined) {
    // The log's own column names map to themselves.
    const native = dash
      ? IIS_W3C_COLUMNS.includes(name) || IIS_CUSTOM.test(name)
      : HTTPPROXY_COLUMNS.includes(name);
    if (!native) return undefined;
    col = name;
  }
  return column(name, col, { dash, ...(USER_AGENT_COLUMNS.has(col) ? { norm: plusSpace } : {}) });
}

/** A built-in log's own column `name`, as Bulwark's `product: exchange` rules name it. */
export function nativeField(type: LogType, name: string): FieldAccess | undefined {
  switch (type) {
    case 'iis-w3c':
      if (!IIS_W3C_COLUMNS.includes(name) && !IIS_CUSTOM.test(name)) return undefined;
      return column(name, name, { dash: true, ...(USER_AGENT_COLUMNS.has(name) ? { norm: plusSpace } : {}) });
    case 'exchange-httpproxy':
      if (!HTTPPROXY_COLUMNS.includes(name)) return undefined;
      return column(name, name, USER_AGENT_COLUMNS.has(name) ? { norm: plusSpace } : {});
    case 'exchange-ecp-server':
    case 'exchange-ecp-activity':
      return ECP_COLUMNS.includes(name) || ECP_ITEM.test(name) ? column(name, name) : undefined;
    case 'exchange-oabgen':
      // The OAB generator log's columns come from its own `#Fields:` line (Timestamp, RecordType, TraceId, OabGuid,
      // AddressListGuid, Message without one): names are read as they are.
      return /^[A-Za-z][\w-]*$/.test(name) ? column(name, name) : undefined;
    default:
      return undefined;
  }
}

/** The `windows` taxonomy's field `name` on an event export record. */
export function windowsField(type: LogType, name: string): FieldAccess | undefined {
  if (type !== 'windows-event-xml' && type !== 'windows-event-csv') return undefined;
  const cols = Object.hasOwn(WINDOWS_FIELDS, name) ? WINDOWS_FIELDS[name] : undefined;
  if (cols) return firstOf(name, cols, name === 'Level' ? levelNorm : undefined);
  // EventData values are named by the event (`<Data Name="User">` → `User`); only the XML export has them.
  if (type === 'windows-event-xml' && /^[A-Za-z][\w.-]*$/.test(name)) return column(name, name);
  return undefined;
}

/** How `name` reads a record of `type` in a rule of `taxonomy`, or undefined when the log has no such field. */
export function resolveField(taxonomy: Taxonomy, type: LogType, name: string): FieldAccess | undefined {
  return logTypeOf(type)?.sigma.field(taxonomy, name);
}

/** A FieldAccess reading one column as written (for the field mappings of registered log types). */
export function plainColumn(name: string, col: string = name): FieldAccess {
  return column(name, col);
}
