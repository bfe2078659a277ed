/**
 * One server's log tree and the writers of each record kind. File layout (relative to the output root):
 *
 *   <SERVER>/Logging/HttpProxy/<Protocol>/HttpProxy_yyyyMMddHH-1.LOG      hourly, 74-column CSV (§1.10)
 *   <SERVER>/Logging/ECP/Server/ECPServer<yyyyMMdd>-1.LOG                 daily, TimeStamp,ServerName,EventId,EventData
 *   <SERVER>/Logging/ECP/Activity/ECPActivity_<pid>_<yyyyMMdd>-1.LOG      daily, same 4 columns
 *   <SERVER>/Logging/OABGeneratorLog/OABGenerator<yyyyMMdd>-1.LOG         daily (format: see OAB_FIELDS)
 *   <SERVER>/inetpub/logs/LogFiles/W3SVC1/u_exYYMMDD.log                  daily, IIS front end (443)
 *   <SERVER>/inetpub/logs/LogFiles/W3SVC2/u_exYYMMDD.log                  daily, IIS "Exchange Back End" (444)
 *
 * Every record method returns the file and 1-based line it wrote, for the ground truth.
 */
import { HTTPPROXY_FIELDS, IIS_EXCHANGE_FIELDS } from '../../core/index.js';
import { type Clock, csv, dayStamp, hourStamp, iisDayStamp } from './format.js';
import type { Server, Ua } from './world.js';
import type { OpenFile, TreeWriter } from './writer.js';

export { HTTPPROXY_FIELDS } from '../../core/index.js';

export const ECP_FIELDS: readonly string[] = ['TimeStamp', 'ServerName', 'EventId', 'EventData'];

/**
 * OAB generator log columns. No original OABGeneratorLog file was available (the public write-ups quote only the phrase
 * "Download failed and temporary file '<path>' needs to be removed" is documented); this layout follows the
 * fields of Exchange's OAB logger as the hunt parser expects them (src/hunt/parse/fields.ts OABGEN_FIELDS).
 */
export const OAB_FIELDS: readonly string[] = [
  'Timestamp',
  'RecordType',
  'TraceId',
  'OabGuid',
  'AddressListGuid',
  'Message',
];

export const IIS_FIELDS = IIS_EXCHANGE_FIELDS.join(' ');

export type Protocol =
  | 'Owa'
  | 'Ecp'
  | 'Ews'
  | 'Mapi'
  | 'Autodiscover'
  | 'Eas'
  | 'Oab'
  | 'PowerShell'
  | 'RpcHttp'
  | 'OwaCalendar';

export const PROTOCOLS: readonly Protocol[] = [
  'Owa',
  'Ecp',
  'Ews',
  'Mapi',
  'Autodiscover',
  'Eas',
  'Oab',
  'PowerShell',
  'RpcHttp',
  'OwaCalendar',
];

export type LogKind = 'httpproxy' | 'ecp-server' | 'ecp-activity' | 'oabgen' | 'iis-fe' | 'iis-be';

export interface Written {
  file: string;
  line: number;
  kind: LogKind;
}

/**
 * One proxied (or locally answered) front-end request: the HttpProxy row and the IIS lines it leaves. Fields use
 * the log's own names where they map one to one. Reused between requests (reset() restores defaults).
 */
export class Req {
  /** End time (epoch ms) — the HttpProxy DateTime and the IIS time. */
  t = 0;
  /** Total request time (ms). */
  total = 0;
  /** Back-end processing time (ms), when proxied. */
  be = 0;
  reqId = '';
  clientReqId = '';
  protocol: Protocol = 'Owa';
  host = '';
  stem = '';
  /** Query without the leading `?`. */
  query = '';
  action = '';
  authType = '';
  /** AuthenticatedUser (empty = unauthenticated). */
  user = '';
  /** cs-username in IIS (empty → `-`). */
  iisUser = '';
  org = '';
  anchor = '';
  ua: Ua | undefined;
  cip = '';
  status = 200;
  /** BackEndStatus ('' when not proxied). */
  beStatus = '';
  errorCode = '';
  method = 'GET';
  proxied = true;
  routingType = 'IntraForest';
  routingHint = '';
  beCookie = '';
  reqBytes = 0;
  respBytes = 0;
  /** TargetServer / TargetServerVersion overrides (default: this server and its build). */
  target = '';
  targetVersion = '';
  /** Extra `Key=value;` items inserted into GenericInfo after ProxyState-Run. */
  infoExtra = '';
  /** Replaces the standard GenericInfo when set (locally answered requests). */
  infoOverride = '';
  genericErrors = '';
  dbCol = '';
  referer = '';
  subStatus = 0;
  win32 = 0;
  /** Write the front-end IIS line (W3SVC1). */
  iisFe = true;
  /** Append `&encoding=;` to the IIS query (OWA/ECP). */
  encoding = false;
  /** Back-end IIS line (W3SVC2): stem/query/user, written when beStem is set. */
  beStem = '';
  beQuery = '';
  beUser = '';
  beUa: Ua | undefined;

  reset(): this {
    this.t = 0;
    this.total = 0;
    this.be = 0;
    this.reqId = '';
    this.clientReqId = '';
    this.host = '';
    this.stem = '';
    this.query = '';
    this.action = '';
    this.authType = '';
    this.user = '';
    this.iisUser = '';
    this.org = '';
    this.anchor = '';
    this.ua = undefined;
    this.cip = '';
    this.status = 200;
    this.beStatus = '';
    this.errorCode = '';
    this.method = 'GET';
    this.proxied = true;
    this.routingType = 'IntraForest';
    this.routingHint = '';
    this.beCookie = '';
    this.target = '';
    this.targetVersion = '';
    this.reqBytes = 0;
    this.respBytes = 0;
    this.infoExtra = '';
    this.infoOverride = '';
    this.genericErrors = '';
    this.dbCol = '';
    this.referer = '';
    this.subStatus = 0;
    this.win32 = 0;
    this.iisFe = true;
    this.encoding = false;
    this.beStem = '';
    this.beQuery = '';
    this.beUser = '';
    this.beUa = undefined;
    return this;
  }
}

export interface ReqLines {
  proxy: Written;
  fe?: Written;
  be?: Written;
}

export class ServerLogs {
  private readonly proxyFiles = new Map<Protocol, { hour: number; f: OpenFile }>();
  private readonly daily = new Map<string, { day: number; f: OpenFile }>();
  private readonly base: string;
  private readonly ecpPid: number;
  /** Bytes written for this server (headers included). */
  bytes = 0;
  /** Earliest HttpProxy row time (epoch ms). */
  firstProxy = Number.POSITIVE_INFINITY;

  constructor(
    private readonly w: TreeWriter,
    readonly server: Server,
    readonly clock: Clock,
  ) {
    this.base = server.name;
    this.ecpPid = 4000 + ((server.index * 7919) % 9000);
  }

  private put(f: OpenFile, text: string): number {
    this.bytes += text.length + 1;
    return this.w.line(f, text);
  }

  private header(f: OpenFile, lines: string[]): void {
    for (const l of lines) this.put(f, l);
  }

  private exchangeHeader(logType: string, version: string, t: number, fields: readonly string[]): string[] {
    return [
      '#Software: Microsoft Exchange Server',
      `#Version: ${version}`,
      `#Log-type: ${logType}`,
      `#Date: ${this.clock.iso(t)}`,
      `#Fields: ${fields.join(',')}`,
    ];
  }

  proxyFile(protocol: Protocol, t: number): OpenFile {
    const hour = Math.floor(t / 3_600_000);
    const cur = this.proxyFiles.get(protocol);
    // A record a little older than the open file (e.g. a begin time) stays in it: files are never reopened.
    if (cur && cur.hour >= hour) return cur.f;
    if (cur) this.w.close(cur.f);
    const f = this.w.open(`${this.base}/Logging/HttpProxy/${protocol}/HttpProxy_${hourStamp(t)}-1.LOG`);
    this.header(f, this.exchangeHeader('HttpProxy Logs', this.server.build.header, t, HTTPPROXY_FIELDS));
    this.proxyFiles.set(protocol, { hour, f });
    return f;
  }

  private dailyFile(
    key: string,
    t: number,
    path: (t: number) => string,
    header: (t: number) => string[],
  ): OpenFile {
    const day = Math.floor(t / 86_400_000);
    const cur = this.daily.get(key);
    if (cur && cur.day >= day) return cur.f;
    if (cur) this.w.close(cur.f);
    const f = this.w.open(path(t));
    this.header(f, header(t));
    this.daily.set(key, { day, f });
    return f;
  }

  ecpServerFile(t: number): OpenFile {
    return this.dailyFile(
      'ecp-server',
      t,
      (t) => `${this.base}/Logging/ECP/Server/ECPServer${dayStamp(t)}-1.LOG`,
      (t) => this.exchangeHeader('ECP Server Log', '15.0.0.0', t, ECP_FIELDS),
    );
  }

  ecpActivityFile(t: number): OpenFile {
    return this.dailyFile(
      'ecp-activity',
      t,
      (t) => `${this.base}/Logging/ECP/Activity/ECPActivity_${this.ecpPid}_${dayStamp(t)}-1.LOG`,
      (t) => this.exchangeHeader('ECP Activity Context Log', '15.0.0.0', t, ECP_FIELDS),
    );
  }

  oabFile(t: number): OpenFile {
    return this.dailyFile(
      'oab',
      t,
      (t) => `${this.base}/Logging/OABGeneratorLog/OABGenerator${dayStamp(t)}-1.LOG`,
      (t) => this.exchangeHeader('OAB Generator Log', this.server.build.header, t, OAB_FIELDS),
    );
  }

  iisFile(site: 1 | 2, t: number): OpenFile {
    return this.dailyFile(
      `iis${site}`,
      t,
      (t) => `${this.base}/inetpub/logs/LogFiles/W3SVC${site}/u_ex${iisDayStamp(t)}.log`,
      (t) => [
        '#Software: Microsoft Internet Information Services 10.0',
        '#Version: 1.0',
        `#Date: ${this.clock.iis(t)}`,
        `#Fields: ${IIS_FIELDS}`,
      ],
    );
  }

  closeAll(): void {
    for (const { f } of this.proxyFiles.values()) this.w.close(f);
    for (const { f } of this.daily.values()) this.w.close(f);
    this.proxyFiles.clear();
    this.daily.clear();
  }

  // ---------------------------------------------------------------------------------------------------------
  // Records

  /** Writes the HttpProxy row of `r` and its IIS lines. */
  request(r: Req): ReqLines {
    const s = this.server;
    const c = this.clock;
    const t = r.t;
    const begin = t - r.total;
    const ua = r.ua ? r.ua.proxy : '';
    let latencies: string;
    let info: string;
    let proxyCols: string;
    if (r.proxied) {
      const be = r.be;
      const core = Math.max(r.total - be, 0);
      const pre = core > 2 ? 1 : 0;
      latencies = `,,,0,${pre},,0,,0,,0,0,,0,${r.total},0,${pre},0,${pre},${be},0,0,0,0,0,${r.total},0,${be + pre},${core},${core},${core},${r.total},`;
      const t1 = begin + pre;
      info =
        r.infoOverride ||
        `BeginRequest=${c.iso(begin)};CorrelationID=<empty>;ProxyState-Run=None;FEAuth=BEVersion-${s.build.packed};${r.infoExtra}BeginGetRequestStream=${c.iso(t1)};OnRequestStreamReady=${c.iso(t1)};BeginGetResponse=${c.iso(t1)};OnResponseReady=${c.iso(t1 + be)};EndGetResponse=${c.iso(t1 + be)};ProxyState-Complete=ProxyResponseData;SharedCacheGuard=0;EndRequest=${c.iso(t)};`;
      proxyCols = `Proxy,${r.target || s.fqdn},${r.targetVersion || s.build.target},${r.routingType},${r.routingHint},${r.beCookie},,,`;
    } else {
      latencies = `,,,,,,,,,,,,,,${r.total},,,,,,,,,,,,,,0,,0,${r.total},`;
      info =
        r.infoOverride ||
        `BeginRequest=${c.iso(begin)};CorrelationID=<empty>;${r.infoExtra}SharedCacheGuard=0;EndRequest=${c.iso(t)};`;
      proxyCols = ',,,,,,,,';
    }
    // GenericInfo is built from comma- and quote-free pieces, so it is written unquoted (the tests check the
    // field count of every row).
    const row =
      `${c.iso(t)},${r.reqId},${s.build.columns},${r.clientReqId},${r.protocol},${r.host},${r.stem},${r.action},` +
      `${r.authType},${r.user ? 'true' : 'false'},${r.user},${r.org},${r.anchor},${ua},${r.cip},${s.name},` +
      `${r.status},${r.beStatus},${r.errorCode},${r.method},${proxyCols}${r.reqBytes},${r.proxied ? r.respBytes : ''}` +
      `${latencies},${r.query ? csv(`?${r.query}`) : ''},,${info},${r.genericErrors ? csv(r.genericErrors) : ''},,${r.dbCol},,,${r.proxied ? 'CafeV1' : ''}`;
    if (t < this.firstProxy) this.firstProxy = t;
    const pf = this.proxyFile(r.protocol, t);
    const out: ReqLines = { proxy: { file: pf.rel, line: this.put(pf, row), kind: 'httpproxy' } };
    const cafe = `&CorrelationID=<empty>;&cafeReqId=${r.reqId};${r.encoding ? '&encoding=;' : ''}`;
    if (r.iisFe) {
      const f = this.iisFile(1, t);
      const line = `${c.iis(t)} ${s.ip} ${r.method} ${r.stem} ${r.query}${cafe} 443 ${r.iisUser || '-'} ${r.cip} ${r.ua?.iis || '-'} ${r.referer || '-'} ${r.status} ${r.subStatus} ${r.win32} ${r.total}`;
      out.fe = { file: f.rel, line: this.put(f, line), kind: 'iis-fe' };
    }
    if (r.beStem) {
      const f = this.iisFile(2, t);
      const taken = r.be > 0 ? r.be : 1;
      const bq = r.beQuery ? `${r.beQuery}&` : '&';
      const line = `${c.iis(t)} ${s.ip} ${r.method} ${r.beStem} ${bq}CorrelationID=<empty>;&cafeReqId=${r.reqId}; 444 ${r.beUser || '-'} ${s.ip} ${(r.beUa ?? r.ua)?.iis || '-'} - ${r.beStatus || r.status} 0 0 ${taken}`;
      out.be = { file: f.rel, line: this.put(f, line), kind: 'iis-be' };
    }
    return out;
  }

  /** A line in the IIS log of a site that did not pass through HttpProxy (e.g. /aspnet_client, health pages). */
  iisOnly(
    site: 1 | 2,
    t: number,
    method: string,
    stem: string,
    query: string,
    user: string,
    cip: string,
    ua: Ua | undefined,
    referer: string,
    status: number,
    subStatus: number,
    taken: number,
  ): Written {
    const f = this.iisFile(site, t);
    const line = `${this.clock.iis(t)} ${this.server.ip} ${method} ${stem} ${query || '-'} ${site === 1 ? 443 : 444} ${user || '-'} ${cip} ${ua?.iis || '-'} ${referer || '-'} ${status} ${subStatus} 0 ${taken}`;
    return { file: f.rel, line: this.put(f, line), kind: site === 1 ? 'iis-fe' : 'iis-be' };
  }

  ecpServer(t: number, eventData: string): Written {
    const f = this.ecpServerFile(t);
    return {
      file: f.rel,
      line: this.put(f, `${this.clock.iso(t)},${this.server.name},ECP.Request,${csv(eventData)}`),
      kind: 'ecp-server',
    };
  }

  ecpActivity(t: number, eventData: string): Written {
    const f = this.ecpActivityFile(t);
    return {
      file: f.rel,
      line: this.put(f, `${this.clock.iso(t)},${this.server.name},Request,${csv(eventData)}`),
      kind: 'ecp-activity',
    };
  }

  oab(t: number, recordType: string, traceId: string, message: string): Written {
    const f = this.oabFile(t);
    const s = this.server;
    return {
      file: f.rel,
      line: this.put(
        f,
        `${this.clock.iso(t)},${recordType},${traceId},${s.oabGuid},${s.addressListGuid},${csv(message)}`,
      ),
      kind: 'oabgen',
    };
  }
}
