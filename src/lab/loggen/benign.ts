/**
 * Benign Exchange traffic: OWA (logon page and its resources, service.svc, notifications), ECP (pages, scripts,
 * DDI/InboxRules calls with their ECP Server and Activity lines), EWS, MAPI over HTTP, ActiveSync, Autodiscover,
 * OAB downloads, remote PowerShell, RPC over HTTP, published calendars, Managed Availability health probes, load
 * balancer health checks, and the OAB generator's scheduled runs.
 *
 * Kept free of every ProxyLogon indicator on purpose (no `ServerInfo~` anchor, no X-BEResource routing, no
 * `Set-*VirtualDirectory`, no "Download failed and temporary file", no /aspnet_client, no /ecp/<x>.js or
 * /owa/auth/Current/ paths, no exploit or web-shell user agents, no attacker addresses), so that "nothing is reported
 * on the benign remainder" is a meaningful test. It does contain realistic near misses: HTML inside a
 * Set-MailboxAutoReplyConfiguration command, `<PII>` tags in ECP Activity lines, the EWS Managed API user agent with
 * a real version, /owa/auth/<build>/themes/resources/ files, and unauthenticated 302/401 noise from the internet.
 */
import type { Protocol, Req, ServerLogs } from './logs.js';
import { type Rng, Weighted } from './rng.js';
import { BROWSERS, EWS_MANAGED_API, publicIp, UA, type User } from './world.js';

function thousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

const OWA_ACTIONS = new Weighted<string>([
  ['GetItem', 10],
  ['FindItem', 8],
  ['FindConversation', 10],
  ['GetConversationItems', 9],
  ['GetFolderMruConfiguration', 2],
  ['GetOwaUserConfiguration', 2],
  ['GetCalendarView', 4],
  ['GetReminders', 3],
  ['SubscribeToNotification', 3],
  ['UpdateItem', 3],
  ['CreateItem', 2],
  ['GetAttachmentDownloadToken', 1],
  ['GetPersona', 2],
  ['FindPeople', 2],
  ['GetMailTips', 1],
  ['LogDatapoint', 3],
]);

const OWA_AUTH_RESOURCES = [
  'themes/resources/logon.css',
  'themes/resources/favicon.ico',
  'themes/resources/owafont.css',
  'themes/resources/segoeui-regular.woff',
  'themes/resources/segoeui-semilight.woff',
  'themes/resources/sign_in_arrow.png',
  'themes/resources/olk_logo_white_cropped.png',
  'themes/resources/bg_gradient_login.png',
  'scripts/premium/flogon.js',
  'scripts/premium/placeholders.js',
];

const OWA_PREM_RESOURCES = [
  'scripts/boot.worldwide.0.mouse.js',
  'scripts/boot.worldwide.1.mouse.js',
  'scripts/boot.worldwide.2.mouse.js',
  'scripts/boot.worldwide.3.mouse.js',
  'resources/styles/0/boot.worldwide.mouse.css',
  'resources/styles/fonts/office365icons.woff',
  'resources/images/0/sprite1.mouse.png',
  'resources/images/0/sprite1.mouse.css',
];

const ECP_SCRIPTS = [
  'scripts/microsoftajax.js',
  'scripts/common.js',
  'scripts/extendedcontrols.js',
  'scripts/listview.js',
  'scripts/wizard.js',
  'themes/default/controls.css',
  'themes/default/primarynavigation.css',
  'themes/resources/ecp_logo.png',
];

/** ECP calls that leave an ECP Server line: stem, schema (or ''), command in ECP's `Verb-Noun.Param=value` form. */
const ECP_CALLS: ReadonlyArray<readonly [string, string, (u: User) => string, number]> = [
  ['/ecp/RulesEditor/InboxRules.svc/GetList', '', () => 'Get-InboxRule', 4],
  [
    '/ecp/DDI/DDIService.svc/GetObject',
    'MailboxRegionalConfiguration',
    () => 'Pipeline.1|Get-MailboxRegionalConfiguration',
    3,
  ],
  [
    '/ecp/DDI/DDIService.svc/GetObject',
    'MailboxAutoReplyConfiguration',
    (u) => `Get-MailboxAutoReplyConfiguration.Identity='${u.smtp}'`,
    3,
  ],
  [
    '/ecp/DDI/DDIService.svc/SetObject',
    'MailboxAutoReplyConfiguration',
    (u) =>
      `Set-MailboxAutoReplyConfiguration.AutoReplyState='Enabled'.InternalMessage='<html><body><p>I am out of the office until Monday, please contact the service desk.</p></body></html>'.Identity='${u.smtp}'`,
    1,
  ],
  [
    '/ecp/DDI/DDIService.svc/GetList',
    'MobileDevices',
    (u) => `Get-MobileDeviceStatistics.Mailbox='${u.smtp}'`,
    2,
  ],
  ['/ecp/DDI/DDIService.svc/GetList', 'MailboxCalendarFolder', () => 'Get-MailboxCalendarFolder', 1],
  [
    '/ecp/DDI/DDIService.svc/GetObject',
    'MailboxCalendarConfiguration',
    () => 'Get-MailboxCalendarConfiguration',
    2,
  ],
  [
    '/ecp/DDI/DDIService.svc/GetList',
    'Mailboxes',
    () => "Get-Recipient.RecipientTypeDetails='UserMailbox'",
    1,
  ],
  ['/ecp/DDI/DDIService.svc/GetObject', 'MessageCategory', () => 'Get-MailboxMessageConfiguration', 1],
];
const ECP_CALL_PICK = new Weighted(ECP_CALLS.map((c, i) => [i, c[3]] as const));

const EWS_ACTIONS = new Weighted<string>([
  ['GetItem', 8],
  ['SyncFolderItems', 8],
  ['FindItem', 5],
  ['GetFolder', 4],
  ['GetUserAvailability', 2],
  ['GetStreamingEvents', 3],
  ['Subscribe', 2],
  ['GetUserOofSettings', 1],
  ['ResolveNames', 1],
  ['CreateItem', 1],
]);

const EAS_COMMANDS = new Weighted<string>([
  ['Ping', 45],
  ['Sync', 30],
  ['FolderSync', 5],
  ['ItemOperations', 5],
  ['SendMail', 3],
  ['MoveItems', 2],
  ['Options', 6],
  ['Settings', 2],
  ['GetItemEstimate', 2],
]);

const PS_ACTIONS = [
  'Get-Mailbox:Command',
  'Get-ExchangeServer:Command',
  'Get-MailboxDatabase:Command',
  'New-PSSession:Receive',
  'Get-Queue:Command',
  'Get-MessageTrackingLog:Command',
];

type Emitter = (t: number) => void;

export class Benign {
  private readonly users: User[];
  private readonly pick: Weighted<Emitter>;

  constructor(
    private readonly rng: Rng,
    private readonly logs: ServerLogs,
    private readonly r: Req,
  ) {
    this.users = logs.server.users;
    this.pick = new Weighted<Emitter>([
      [(t) => this.mapi(t), 28],
      [(t) => this.owa(t), 24],
      [(t) => this.ews(t), 13],
      [(t) => this.eas(t), 12],
      [(t) => this.autodiscover(t), 7],
      [(t) => this.ecp(t), 4],
      [(t) => this.oab(t), 3],
      [(t) => this.rpc(t), 2],
      [(t) => this.powershell(t), 2],
      [(t) => this.calendar(t), 1],
      [(t) => this.health(t), 2],
      [(t) => this.lbCheck(t), 2],
    ]);
  }

  /** Writes one benign request (and whatever lines it leaves) ending at t. */
  emit(t: number): void {
    this.pick.pick(this.rng)(t);
  }

  // -------------------------------------------------------------------------------------------------------

  private user(): User {
    return this.users[this.rng.int(this.users.length)]!;
  }

  private ip(u: User): string {
    return u.ips.length === 1 || this.rng.chance(0.6) ? u.ips[0]! : this.rng.pick(u.ips);
  }

  /** Starts a request with the fields every request shares. */
  private start(t: number, protocol: Protocol, u: User | undefined, total: number): Req {
    const r = this.r.reset();
    const rng = this.rng;
    r.t = t;
    r.total = Math.max(1, Math.round(total));
    r.be = r.total > 3 ? r.total - 1 - rng.int(Math.min(8, r.total - 2)) : r.total;
    r.reqId = rng.guid();
    r.protocol = protocol;
    const s = this.logs.server;
    r.host = rng.chance(0.85) ? s.mailHost : s.fqdn;
    if (u) {
      r.cip = this.ip(u);
      r.org = rng.chance(0.3) ? s.adDomain : '';
    }
    return r;
  }

  /** Marks the request authenticated as u and proxied to the back end with the given stem/query. */
  private authed(r: Req, u: User, authType: string, anchor: string, routingHint: string): void {
    r.authType = authType;
    r.user = u.account;
    r.iisUser = u.account;
    r.anchor = anchor;
    r.routingHint = routingHint;
    r.beStatus = String(r.status);
    r.beUser = u.account;
    r.beStem = r.stem;
    r.beQuery = r.query;
    const rng = this.rng;
    if (rng.chance(0.35)) {
      r.beCookie = `Database~${u.dbGuid}~~${this.logs.clock.iso(r.t + 2_592_000_000).slice(0, 19)}~${this.logs.server.adDomain}~1`;
    }
    if (rng.chance(0.6)) r.dbCol = `|RoutingDB:${u.dbGuid}`;
    if (rng.chance(0.2)) {
      const dc = this.logs.server.dc;
      r.infoExtra = `I32:ADS.C[${dc}]=${rng.range(1, 3)};F:ADS.AL[${dc}]=${(rng.float() * 3).toFixed(6)};`;
    }
  }

  private unauth(r: Req, status: number, extra: string): void {
    r.proxied = false;
    r.status = status;
    r.infoExtra = extra;
    r.respBytes = 0;
  }

  private reqBytes(min: number, max: number): number {
    return this.rng.range(min, max);
  }

  // ---------------------------------------------------------------------------------------------- protocols

  private mapi(t: number): void {
    const rng = this.rng;
    const u = this.user();
    const nspi = rng.chance(0.2);
    const kind = nspi
      ? rng.pick(['Bind', 'QueryRows', 'GetMatches', 'ResolveNames', 'Unbind'])
      : rng.pick([
          'Execute',
          'Execute',
          'Execute',
          'Execute',
          'NotificationWait',
          'NotificationWait',
          'Connect',
          'Disconnect',
        ]);
    const total = kind === 'NotificationWait' ? rng.range(20_000, 300_000) : rng.exp(40) + 3;
    const r = this.start(t, 'Mapi', u, total);
    r.method = 'POST';
    r.stem = nspi ? '/mapi/nspi/' : '/mapi/emsmdb/';
    r.query = `MailboxId=${u.mailboxGuid}@${this.logs.server.domain}`;
    r.ua = u.outlook;
    r.clientReqId = `R:${rng.guid()}:${rng.range(1, 900)};RT:${kind};CI:${rng.guid()}:${rng.range(1, 40)};CID:${rng.guid()}`;
    if (rng.chance(0.04)) {
      this.unauth(r, 401, '');
      r.authType = 'Negotiate';
      r.reqBytes = 0;
    } else {
      r.status = 200;
      this.authed(
        r,
        u,
        rng.chance(0.7) ? 'Negotiate' : 'NTLM',
        `MailboxGuid~${u.mailboxGuid}`,
        'MailboxGuidWithDomain',
      );
      r.reqBytes = this.reqBytes(90, 4000);
      r.respBytes = rng.range(100, 60_000);
    }
    this.logs.request(r);
  }

  private owa(t: number): void {
    const rng = this.rng;
    const s = this.logs.server;
    const u = this.user();
    const x = rng.float();
    const ref = `https://${s.mailHost}/owa/`;
    if (x < 0.42) {
      const action = OWA_ACTIONS.pick(rng);
      const r = this.start(t, 'Owa', u, rng.exp(90) + 5);
      r.method = 'POST';
      r.stem = '/owa/service.svc';
      r.query = `action=${action}&EP=1&ID=-${rng.range(1, 400)}&AC=1`;
      r.action = action;
      r.ua = u.browser;
      r.referer = ref;
      r.encoding = true;
      r.clientReqId = `${rng.hex(16).toUpperCase()}_${rng.range(100_000_000, 999_999_999)}`;
      r.status = rng.chance(0.995) ? 200 : 500;
      this.authed(r, u, 'FBA', rng.chance(0.5) ? u.anchorSmtp : u.anchorSid, 'OwaIdentity');
      r.reqBytes = this.reqBytes(200, 3000);
      r.respBytes = rng.range(300, 90_000);
      this.logs.request(r);
    } else if (x < 0.53) {
      const r = this.start(t, 'Owa', u, rng.range(1_000, 120_000));
      r.method = 'POST';
      r.stem = '/owa/ev.owa2';
      r.query = `ns=PendingRequest&ev=PendingNotificationRequest&UA=0&SessionId=${rng.guid()}&cid=${rng.range(1, 90)}`;
      r.ua = u.browser;
      r.referer = ref;
      r.encoding = true;
      this.authed(r, u, 'FBA', u.anchorSmtp, 'OwaIdentity');
      r.reqBytes = this.reqBytes(2, 200);
      r.respBytes = rng.range(20, 4000);
      this.logs.request(r);
    } else if (x < 0.65) {
      const r = this.start(t, 'Owa', u, rng.exp(15) + 1);
      r.stem = `/owa/prem/${s.build.dotted}/${rng.pick(OWA_PREM_RESOURCES)}`;
      r.ua = u.browser;
      r.referer = ref;
      r.encoding = true;
      r.status = rng.chance(0.6) ? 304 : 200;
      this.authed(r, u, 'FBA', u.anchorSmtp, 'OwaIdentity');
      r.respBytes = r.status === 304 ? 0 : rng.range(2_000, 900_000);
      this.logs.request(r);
    } else if (x < 0.76) {
      // Logon page resources, fetched unauthenticated by users and by the internet at large.
      const external = rng.chance(0.25);
      const r = this.start(t, 'Owa', external ? undefined : u, rng.exp(6) + 1);
      if (external) r.cip = publicIp(rng);
      r.stem = `/owa/auth/${s.build.short}/${rng.pick(OWA_AUTH_RESOURCES)}`;
      r.ua = external ? rng.pick(BROWSERS) : u.browser;
      r.referer = `https://${s.mailHost}/owa/auth/logon.aspx?url=https%3a%2f%2f${s.mailHost}%2fowa%2f&reason=0`;
      r.encoding = true;
      r.authType = 'FBA';
      this.unauth(r, rng.chance(0.5) ? 304 : 200, '');
      this.logs.request(r);
    } else if (x < 0.82) {
      const external = rng.chance(0.3);
      const r = this.start(t, 'Owa', external ? undefined : u, rng.exp(10) + 2);
      if (external) r.cip = publicIp(rng);
      r.stem = '/owa/auth/logon.aspx';
      r.query = `url=https%3a%2f%2f${s.mailHost}%2f${rng.chance(0.85) ? 'owa' : 'ecp'}%2f&reason=${rng.chance(0.9) ? 0 : 3}`;
      r.ua = external ? rng.pick(BROWSERS) : u.browser;
      r.encoding = true;
      r.authType = 'FBA';
      this.unauth(r, 200, '');
      this.logs.request(r);
    } else if (x < 0.87) {
      const r = this.start(t, 'Owa', u, rng.exp(60) + 20);
      r.method = 'POST';
      r.stem = '/owa/auth.owa';
      r.ua = u.browser;
      r.referer = `https://${s.mailHost}/owa/auth/logon.aspx?replaceCurrent=1&url=https%3a%2f%2f${s.mailHost}%2fowa%2f`;
      r.encoding = true;
      r.authType = 'FBA';
      r.reqBytes = this.reqBytes(150, 400);
      const failed = rng.chance(0.08);
      this.unauth(r, 302, failed ? 'FbaAuth=LogonFailed;' : 'FbaAuth=Succeeded;');
      if (failed) r.genericErrors = 'Logon failure: unknown user name or bad password, reason=2';
      this.logs.request(r);
    } else if (x < 0.93) {
      // GET /owa/: unauthenticated → redirect to the logon page (users and internet noise alike).
      const external = rng.chance(0.5);
      const r = this.start(t, 'Owa', external ? undefined : u, rng.exp(4) + 1);
      if (external) r.cip = publicIp(rng);
      r.stem = '/owa/';
      r.ua = external ? rng.pick(BROWSERS) : u.browser;
      r.authType = 'FBA';
      r.encoding = true;
      this.unauth(r, 302, 'NoCookies=302 - GET/E14AuthPost;');
      this.logs.request(r);
    } else if (x < 0.97) {
      const r = this.start(t, 'Owa', u, rng.exp(120) + 30);
      r.stem = '/owa/';
      r.ua = u.browser;
      r.encoding = true;
      this.authed(r, u, 'FBA', u.anchorSmtp, 'OwaIdentity');
      r.respBytes = rng.range(20_000, 80_000);
      this.logs.request(r);
    } else {
      const r = this.start(t, 'Owa', u, rng.exp(20) + 5);
      r.stem = '/owa/logoff.owa';
      r.ua = u.browser;
      r.referer = ref;
      r.encoding = true;
      r.status = 302;
      this.authed(r, u, 'FBA', u.anchorSmtp, 'OwaIdentity');
      this.logs.request(r);
    }
  }

  private ecp(t: number): void {
    const rng = this.rng;
    const s = this.logs.server;
    const u = this.user();
    const x = rng.float();
    if (x < 0.45) {
      const [stem, schema, cmd] = ECP_CALLS[ECP_CALL_PICK.pick(rng)]!;
      const r = this.start(t, 'Ecp', u, rng.exp(150) + 20);
      r.method = 'POST';
      r.stem = stem;
      r.query = schema ? `schema=${schema}&msExchEcpCanary=${u.canary}` : `msExchEcpCanary=${u.canary}`;
      r.ua = u.browser;
      r.referer = `https://${s.mailHost}/ecp/?rfr=owa&p=PersonalSettings/HomePage.aspx`;
      r.encoding = true;
      this.authed(r, u, 'FBA', u.anchorSid, 'EcpDelegatedOrganization');
      r.reqBytes = this.reqBytes(100, 2000);
      r.respBytes = rng.range(200, 30_000);
      this.logs.request(r);
      const b = s.build.dotted;
      const url = `${stem}?${r.query}`;
      this.logs.ecpServer(
        t - 2,
        `S:TIME=${Math.max(1, r.be - 3)};S:SID=${rng.guid()};S:CMD=${cmd(u)};S:REQID=;S:URL=${url};S:REFERRER=;S:EX=;S:ACTID=${rng.guid()};S:RS=0;S:BLD=${b};S:TNAME=<null>;S:TID=;S:USID=${rng.guid()};S:EDOID=;S:ACID=`,
      );
      this.logs.ecpActivity(
        t - 1,
        `S:PSA=<PII>${u.smtp}</PII>;S:URL=https://localhost:444${url};S:Bld=${b};S:ActID=${rng.guid()};I32:ADS.C[${s.dc.split('.')[0]}]=${rng.range(1, 3)};F:ADS.AL[${s.dc.split('.')[0]}]=${(rng.float() * 2).toFixed(6)};Dbl:WLM.TS=${r.be}`,
      );
    } else if (x < 0.7) {
      const r = this.start(t, 'Ecp', u, rng.exp(8) + 1);
      r.stem = `/ecp/${s.build.dotted}/${rng.pick(ECP_SCRIPTS)}`;
      r.ua = u.browser;
      r.referer = `https://${s.mailHost}/ecp/`;
      r.encoding = true;
      r.status = rng.chance(0.6) ? 304 : 200;
      this.authed(r, u, 'FBA', u.anchorSid, 'EcpDelegatedOrganization');
      this.logs.request(r);
    } else if (x < 0.85) {
      const r = this.start(t, 'Ecp', u, rng.exp(200) + 40);
      r.stem = rng.chance(0.5) ? '/ecp/PersonalSettings/HomePage.aspx' : '/ecp/';
      r.query = r.stem === '/ecp/' ? '' : 'showhelp=false';
      r.ua = u.browser;
      r.encoding = true;
      this.authed(r, u, 'FBA', u.anchorSid, 'EcpDelegatedOrganization');
      r.respBytes = rng.range(5000, 60_000);
      this.logs.request(r);
      this.logs.ecpActivity(
        t - 1,
        `S:PSA=<PII>${u.smtp}</PII>;S:URL=https://localhost:444${r.stem}${r.query ? `?${r.query}` : ''};S:Bld=${s.build.dotted};S:ActID=${rng.guid()};Dbl:WLM.TS=${r.be}`,
      );
    } else {
      const r = this.start(t, 'Ecp', u, rng.exp(5) + 1);
      r.stem = '/ecp/';
      r.ua = u.browser;
      r.authType = 'FBA';
      r.encoding = true;
      this.unauth(r, 302, 'NoCookies=302 - GET/E14AuthPost;');
      this.logs.request(r);
    }
  }

  private ews(t: number): void {
    const rng = this.rng;
    const u = this.user();
    const action = EWS_ACTIONS.pick(rng);
    const total = action === 'GetStreamingEvents' ? rng.range(30_000, 1_800_000) : rng.exp(70) + 4;
    const r = this.start(t, 'Ews', u, total);
    r.method = 'POST';
    r.stem = '/EWS/Exchange.asmx';
    r.action = action;
    const app = rng.float();
    r.ua = app < 0.05 ? EWS_MANAGED_API : u.mac && app < 0.6 ? u.mac : u.outlook;
    if (rng.chance(0.05)) {
      this.unauth(r, 401, '');
      r.authType = 'NTLM';
    } else {
      this.authed(r, u, rng.pick(['NTLM', 'Negotiate', 'Basic']), u.anchorSmtp, 'AnchorMailboxHeader-SMTP');
      r.reqBytes = this.reqBytes(400, 6000);
      r.respBytes = rng.range(300, 120_000);
    }
    this.logs.request(r);
  }

  private eas(t: number): void {
    const rng = this.rng;
    const s = this.logs.server;
    const u = this.user();
    const cmd = EAS_COMMANDS.pick(rng);
    const total = cmd === 'Ping' ? rng.range(60_000, 1_740_000) : rng.exp(200) + 10;
    const r = this.start(t, 'Eas', u, total);
    r.method = cmd === 'Options' ? 'OPTIONS' : 'POST';
    r.stem = '/Microsoft-Server-ActiveSync/default.eas';
    r.query = `Cmd=${cmd}&User=${s.netbios.toLowerCase()}%5C${u.sam}&DeviceId=${u.deviceId}&DeviceType=${u.deviceType}`;
    r.ua = u.mobile;
    if (rng.chance(0.03)) {
      this.unauth(r, 401, '');
      r.authType = 'Basic';
      this.logs.request(r);
      return;
    }
    r.status = rng.chance(0.02) ? 449 : 200;
    this.authed(r, u, 'Basic', u.anchorSid, 'WindowsIdentity');
    r.reqBytes = r.method === 'OPTIONS' ? 0 : this.reqBytes(20, 3000);
    r.respBytes = rng.range(0, 40_000);
    r.beQuery = `${r.query}&Log=V161_Sst${rng.range(1, 30)}_LdapC${rng.range(0, 4)}_LdapL${rng.range(0, 9)}_Fet${r.be}_Erq1_Pk${rng.range(100000000, 999999999)}_S1_`;
    this.logs.request(r);
  }

  private autodiscover(t: number): void {
    const rng = this.rng;
    const s = this.logs.server;
    const u = this.user();
    const r = this.start(t, 'Autodiscover', u, rng.exp(20) + 3);
    r.method = 'POST';
    r.host = rng.chance(0.7) ? s.autodiscoverHost : s.fqdn;
    r.stem = rng.chance(0.8) ? '/autodiscover/autodiscover.xml' : '/Autodiscover/Autodiscover.xml';
    r.ua = rng.chance(0.8) ? u.outlook : UA.appleAutodiscover;
    if (rng.chance(0.3)) {
      this.unauth(r, 401, '');
      r.authType = 'Negotiate';
    } else {
      this.authed(
        r,
        u,
        rng.chance(0.5) ? 'NTLM' : 'Negotiate',
        rng.chance(0.5) ? u.anchorSid : u.anchorSmtp,
        'WindowsIdentity',
      );
      r.infoExtra = `RandomBE=${s.fqdn}~${s.build.packed};`;
      r.reqBytes = this.reqBytes(300, 700);
      r.respBytes = rng.range(2000, 6000);
    }
    this.logs.request(r);
  }

  private oab(t: number): void {
    const rng = this.rng;
    const s = this.logs.server;
    const u = this.user();
    const r = this.start(t, 'Oab', u, rng.exp(30) + 3);
    const lzx = rng.chance(0.15);
    r.stem = lzx
      ? `/OAB/${s.oabGuid}/${rng.guid()}-data-${rng.range(1, 300)}.lzx`
      : `/OAB/${s.oabGuid}/oab.xml`;
    r.ua = rng.chance(0.6) ? UA.bits : u.outlook;
    r.status = lzx ? 200 : rng.chance(0.7) ? 304 : 200;
    this.authed(r, u, 'Negotiate', u.anchorSid, 'OABGuid');
    r.respBytes = r.status === 304 ? 0 : lzx ? rng.range(10_000, 5_000_000) : rng.range(900, 1500);
    this.logs.request(r);
  }

  private rpc(t: number): void {
    const rng = this.rng;
    const s = this.logs.server;
    const u = this.user();
    const r = this.start(t, 'RpcHttp', u, rng.range(50, 900_000));
    r.method = rng.chance(0.5) ? 'RPC_IN_DATA' : 'RPC_OUT_DATA';
    r.stem = '/rpc/rpcproxy.dll';
    r.query = `${u.mailboxGuid}@${s.domain}:6001`;
    r.ua = UA.msrpc;
    if (rng.chance(0.2)) {
      this.unauth(r, 401, '');
      r.authType = 'NTLM';
    } else {
      this.authed(r, u, 'NTLM', `MailboxGuid~${u.mailboxGuid}`, 'RpcHttpQueryString');
      r.reqBytes = r.method === 'RPC_IN_DATA' ? 1_073_741_824 : 0;
    }
    this.logs.request(r);
  }

  private powershell(t: number): void {
    const rng = this.rng;
    const s = this.logs.server;
    const admin = rng.chance(0.3);
    const u = admin ? this.user() : rng.pick(s.health);
    const r = this.start(t, 'PowerShell', u, rng.exp(20) + 5);
    r.method = 'POST';
    r.host = s.fqdn.toLowerCase();
    r.stem = '/powershell';
    r.action = rng.pick(PS_ACTIONS);
    const ps = `PSVersion=5.1.14393.${rng.pick(['4169', '4283', '4402'])}`;
    r.query = admin
      ? `serializationLevel=Full;ExchClientVer=${s.build.dotted};clientApplication=ManagementShell;TargetServer=;${ps}`
      : `clientApplication=ActiveMonitor;${ps}`;
    r.ua = UA.winrm;
    r.cip = admin ? u.ips[0]! : s.ip;
    this.authed(
      r,
      u,
      'Kerberos',
      `ServerVersion~Version ${s.build.major}.${s.build.minor} (Build ${s.build.build}.0)`,
      'ExchClientVer-ServerCookie',
    );
    r.beCookie = `Server~${s.fqdn.toLowerCase()}~${s.build.packed}~${this.logs.clock.iso(t + 600_000).slice(0, 19)}`;
    r.infoExtra = `SessionId=${rng.guid().toUpperCase()};ShellId=${rng.guid().toUpperCase()};`;
    r.reqBytes = this.reqBytes(800, 6000);
    r.respBytes = rng.range(500, 20_000);
    this.logs.request(r);
  }

  private calendar(t: number): void {
    const rng = this.rng;
    const s = this.logs.server;
    const u = this.user();
    const r = this.start(t, 'OwaCalendar', undefined, rng.exp(80) + 10);
    r.cip = publicIp(rng);
    r.stem = `/owa/calendar/${u.mailboxGuid}@${s.domain}/${rng.hex(16)}/${rng.chance(0.7) ? 'reachcalendar.ics' : 'calendar.html'}`;
    r.ua = rng.chance(0.6) ? u.outlook : rng.pick(BROWSERS);
    r.authType = 'Anonymous';
    r.encoding = true;
    r.anchor = `Smtp~${u.smtp}`;
    r.routingHint = 'OwaCalendarPublishing';
    r.beStatus = '200';
    r.beStem = r.stem;
    r.respBytes = rng.range(1000, 200_000);
    this.logs.request(r);
  }

  /** Managed Availability probes: health mailboxes from the server itself against each protocol. */
  private health(t: number): void {
    const rng = this.rng;
    const s = this.logs.server;
    const hm = rng.pick(s.health);
    const target = rng.int(4);
    const r = this.start(t, 'Ews', hm, rng.exp(10) + 1);
    r.host = 'localhost';
    r.cip = rng.pick(['127.0.0.1', '::1']);
    r.ua = UA.amProbe;
    if (target === 0) {
      r.stem = '/ews/';
      this.authed(r, hm, 'Negotiate', hm.anchorSid, 'WindowsIdentity');
      r.beStatus = '';
      r.beStem = '';
    } else if (target === 1) {
      r.protocol = 'Owa';
      r.stem = '/owa/';
      r.encoding = true;
      this.authed(r, hm, 'Negotiate', hm.anchorSmtp, 'OwaIdentity');
    } else if (target === 2) {
      r.protocol = 'Mapi';
      r.method = 'POST';
      r.stem = '/mapi/emsmdb/';
      r.query = `mailboxId=${hm.mailboxGuid}@${s.domain}`;
      r.ua = UA.mapiHealth;
      r.clientReqId = `R:${rng.guid()}:1;RT:${rng.pick(['Connect', 'Execute', 'Disconnect'])};CI:${rng.guid()}:1;CID:${rng.guid()}`;
      this.authed(r, hm, 'Negotiate', `MailboxGuid~${hm.mailboxGuid}`, 'MailboxGuidWithDomain');
    } else {
      r.protocol = 'Eas';
      r.method = 'POST';
      r.stem = '/Microsoft-Server-ActiveSync/default.eas';
      r.query = `Cmd=FolderSync&User=${hm.sam}&DeviceId=Probe${rng.hex(4)}&DeviceType=ActiveSyncMonitor`;
      this.authed(r, hm, 'Basic', hm.anchorSid, 'WindowsIdentity');
    }
    this.logs.request(r);
  }

  /** Load balancer health checks: IIS only (the health pages are answered before HttpProxy). */
  private lbCheck(t: number): void {
    const rng = this.rng;
    const s = this.logs.server;
    const page = rng.pick([
      '/owa/healthcheck.htm',
      '/ecp/healthcheck.htm',
      '/EWS/healthcheck.htm',
      '/mapi/healthcheck.htm',
      '/Microsoft-Server-ActiveSync/healthcheck.htm',
      '/Autodiscover/healthcheck.htm',
      '/OAB/healthcheck.htm',
      '/rpc/healthcheck.htm',
    ]);
    this.logs.iisOnly(1, t, 'GET', page, '', '', rng.pick(s.lbIps), undefined, '', 200, 0, rng.range(0, 4));
    if (rng.chance(0.1)) {
      // Plain HTTP root hit redirected to OWA.
      this.logs.iisOnly(
        1,
        t,
        'GET',
        '/',
        '',
        '',
        publicIp(rng),
        rng.pick(BROWSERS),
        '',
        302,
        0,
        rng.range(0, 3),
      );
    }
  }

  /** One scheduled run of the OAB generator (benign lines only). */
  oabRun(t: number): void {
    const rng = this.rng;
    const s = this.logs.server;
    const trace = rng.guid();
    const tmp = `C:\\Program Files\\Microsoft\\Exchange Server\\V15\\ClientAccess\\OAB\\Temp\\${rng.guid()}`;
    let at = t;
    const step = () => {
      at += rng.range(20, 3000);
      return at;
    };
    const entries = rng.range(s.users.length + 40, s.users.length + 400);
    this.logs.oab(
      at,
      'Information',
      trace,
      `OABGeneratorAssistant: starting generation of offline address book 'Default Offline Address Book' (${s.oabGuid}).`,
    );
    this.logs.oab(step(), 'Information', trace, `Using temporary directory '${tmp}'.`);
    this.logs.oab(
      step(),
      'Information',
      trace,
      `Downloaded address list 'Default Global Address List': ${thousands(entries)} entries, 0 skipped.`,
    );
    this.logs.oab(
      step(),
      'Information',
      trace,
      'Generated full OAB files (version 4, Unicode) and differential update files.',
    );
    this.logs.oab(
      step(),
      'Information',
      trace,
      `Uploaded OAB files to the organization mailbox 'SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@${s.domain}'.`,
    );
    this.logs.oab(
      step(),
      'Information',
      trace,
      `OAB generation completed successfully in ${(rng.float() * 30 + 2).toFixed(3)} seconds.`,
    );
  }
}
