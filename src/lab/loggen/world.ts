/**
 * The simulated estate: servers (name, organisation, build, addresses) and their users (accounts, SIDs, mailbox
 * GUIDs, devices, client addresses, user agents). Built once per server from the seed; everything the per-request
 * code needs is precomputed here as ready-to-paste strings.
 *
 * Addresses: internal clients and servers use RFC 1918 ranges; "public" clients use the RFC 5737 documentation
 * networks (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and 2001:db8::/32 (RFC 3849). Attacker addresses are
 * never drawn here: they come only from the advisory IOC list (see attacks.ts).
 */
import { iisValue, proxyUa } from './format.js';
import type { Rng } from './rng.js';

export interface Ua {
  raw: string;
  /** HttpProxy form (commas written as spaces). */
  proxy: string;
  /** IIS W3C form (spaces as `+`). */
  iis: string;
}

export function ua(raw: string): Ua {
  return { raw, proxy: proxyUa(raw), iis: iisValue(raw) };
}

export interface Build {
  /** `#Version:` form, 4-part zero padded: `15.01.2176.002`. */
  header: string;
  major: number;
  minor: number;
  build: number;
  rev: number;
  /** `15.1.2176.2` (ECP `S:BLD=`, OWA premium resource folder). */
  dotted: string;
  /** `15.1.2176` (OWA auth resource folder). */
  short: string;
  /** `15.01.2176.000` (TargetServerVersion column). */
  target: string;
  /** Exchange's packed server version number as in `FEAuth=BEVersion-<n>`. */
  packed: number;
  /** MajorVersion..RevisionVersion columns, comma-joined. */
  columns: string;
}

function build(major: number, minor: number, b: number, rev: number): Build {
  const p2 = (n: number) => String(n).padStart(2, '0');
  const p3 = (n: number) => String(n).padStart(3, '0');
  const p4 = (n: number) => String(n).padStart(4, '0');
  return {
    header: `${major}.${p2(minor)}.${p4(b)}.${p3(rev)}`,
    major,
    minor,
    build: b,
    rev,
    dotted: `${major}.${minor}.${b}.${rev}`,
    short: `${major}.${minor}.${b}`,
    target: `${major}.${p2(minor)}.${p4(b)}.000`,
    packed: (0x70000000 | ((major & 0x3f) << 22) | ((minor & 0x3f) << 16) | 0x8000 | (b & 0x7fff)) >>> 0,
    columns: `${major},${minor},${b},${rev}`,
  };
}

/** Builds without the March 2021 security update (all vulnerable to ProxyLogon). The first is the default. */
export const BUILDS: readonly Build[] = [
  build(15, 1, 2176, 2), // Exchange 2016 CU19
  build(15, 2, 792, 3), // Exchange 2019 CU8
  build(15, 1, 2106, 2), // Exchange 2016 CU18
  build(15, 2, 721, 2), // Exchange 2019 CU7
];

/** Microsoft's fictitious organisation names: [NetBIOS domain, public mail domain, AD DNS domain]. */
const ORGS: ReadonlyArray<readonly [string, string, string]> = [
  ['CONTOSO', 'contoso.com', 'contoso.local'],
  ['FABRIKAM', 'fabrikam.com', 'corp.fabrikam.com'],
  ['ADATUM', 'adatum.com', 'ad.adatum.com'],
  ['NWTRADERS', 'northwindtraders.com', 'nwtraders.local'],
  ['TAILSPIN', 'tailspintoys.com', 'tailspintoys.local'],
  ['WOODGROVE', 'woodgrovebank.com', 'corp.woodgrovebank.com'],
  ['LITWARE', 'litwareinc.com', 'litwareinc.local'],
  ['WINGTIP', 'wingtiptoys.com', 'wingtiptoys.local'],
];

const FIRST = [
  'anna',
  'ben',
  'carla',
  'david',
  'emma',
  'felix',
  'grace',
  'henry',
  'ines',
  'jonas',
  'karin',
  'lars',
  'maria',
  'nils',
  'olga',
  'peter',
  'quinn',
  'rosa',
  'sven',
  'tara',
  'ulrich',
  'vera',
  'walter',
  'xenia',
  'yusuf',
  'zoe',
  'alex',
  'bianca',
  'chris',
  'dana',
  'erik',
  'fatima',
  'georg',
  'hanna',
  'ivan',
  'julia',
  'kevin',
  'lena',
  'marco',
  'nadia',
  'oskar',
  'paula',
  'rafael',
  'sara',
  'tom',
  'ute',
  'victor',
  'wanda',
];
const LAST = [
  'andersen',
  'berg',
  'costa',
  'dahl',
  'eriksen',
  'fischer',
  'garcia',
  'hansen',
  'iversen',
  'jensen',
  'klein',
  'larsen',
  'meyer',
  'nielsen',
  'olsen',
  'petersen',
  'quist',
  'richter',
  'schmidt',
  'torres',
  'umar',
  'vogel',
  'wagner',
  'young',
  'zimmer',
  'bauer',
  'lopez',
  'martin',
  'novak',
  'moreau',
  'rossi',
  'silva',
  'kowalski',
  'haugen',
  'lindqvist',
  'brennan',
  'okafor',
  'tanaka',
  'yilmaz',
  'dubois',
];

const BROWSERS: readonly Ua[] = [
  ua(
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0.4324.190 Safari/537.36',
  ),
  ua(
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/89.0.4389.72 Safari/537.36 Edg/89.0.774.45',
  ),
  ua('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:86.0) Gecko/20100101 Firefox/86.0'),
  ua(
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.0.3 Safari/605.1.15',
  ),
  ua('Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko'),
  ua(
    'Mozilla/5.0 (iPhone; CPU iPhone OS 14_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.0.3 Mobile/15E148 Safari/604.1',
  ),
];

const OUTLOOKS: readonly Ua[] = [
  ua('Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.13801; Pro)'),
  ua('Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.13628; Pro)'),
  ua('Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.5119; Pro)'),
  ua('Microsoft Office/15.0 (Windows NT 6.1; Microsoft Outlook 15.0.5319; Pro)'),
];

const MAC_EWS: readonly Ua[] = [
  ua('Mac OS X/11.2.3 (20D91); ExchangeWebServices/11.0 (326); Mail/14.0 (3654.60.0.2.21)'),
  ua('MacOutlook/16.46.21021202 (Intelx64 Mac OS X 11.2.1 (Build 20D74))'),
  ua('Mac OS X/10.15.7 (19H524); ExchangeWebServices/10.0 (269); Mail/13.4 (3608.120.23.2.4)'),
];

/** A third-party application using the EWS Managed API with its real version (not the exploit's `0.0.0.0`). */
export const EWS_MANAGED_API = ua('ExchangeServicesClient/15.00.0913.015');

const MOBILE: ReadonlyArray<readonly [Ua, string]> = [
  [ua('Apple-iPhone12C1/1803.64'), 'iPhone'],
  [ua('Apple-iPhone13C2/1804.47'), 'iPhone'],
  [ua('Apple-iPad8C1/1803.64'), 'iPad'],
  [ua('Outlook-iOS-Android/1.0'), 'Outlook'],
  [ua('Android-Mail/2021.02.14.356478921.Release'), 'Android'],
  [ua('Samsung-SM-G991B/101.200'), 'SAMSUNGSMG991B'],
];

export const UA = {
  mapiHealth: ua('MapiHttpClient'),
  amProbe: ua('AMProbe/Local/ClientAccess'),
  winrm: ua('Microsoft WinRM Client'),
  bits: ua('Microsoft BITS/7.8'),
  msrpc: ua('MSRPC'),
  appleAutodiscover: ua('AppleExchangeWebServices/818.120.2 accountsd/113'),
  none: ua(''),
} as const;

export interface User {
  sam: string;
  /** `CONTOSO\anna.berg` */
  account: string;
  smtp: string;
  sid: string;
  mailboxGuid: string;
  dbGuid: string;
  /** Addresses this user connects from (office LAN, home/mobile documentation addresses). */
  ips: string[];
  browser: Ua;
  outlook: Ua;
  mac: Ua | undefined;
  mobile: Ua;
  deviceType: string;
  deviceId: string;
  /** ECP canary of the user's current session (76 url-safe chars and a dot). */
  canary: string;
  anchorSid: string;
  anchorSmtp: string;
}

export interface Server {
  index: number;
  /** NetBIOS name, also the folder name under the output root: `EXCH01`. */
  name: string;
  netbios: string;
  /** Public mail domain: `contoso.com`. */
  domain: string;
  /** AD DNS domain: `contoso.local`. */
  adDomain: string;
  fqdn: string;
  /** Public host names clients use. */
  mailHost: string;
  autodiscoverHost: string;
  ip: string;
  /** Load balancer / reverse proxy addresses probing health pages. */
  lbIps: string[];
  build: Build;
  domainSid: string;
  dbGuids: string[];
  oabGuid: string;
  addressListGuid: string;
  users: User[];
  health: User[];
  dc: string;
}

const URLSAFE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function publicIp(rng: Rng): string {
  const r = rng.int(10);
  if (r < 3) return `192.0.2.${rng.range(1, 254)}`;
  if (r < 6) return `198.51.100.${rng.range(1, 254)}`;
  if (r < 9) return `203.0.113.${rng.range(1, 254)}`;
  return `2001:db8:${rng.hex(2)}:${rng.range(1, 255).toString(16)}::${rng.range(2, 4095).toString(16)}`;
}

export function makeServer(rng: Rng, index: number, userCount: number): Server {
  const [netbios, domain, adDomain] = ORGS[index % ORGS.length]!;
  const name = `EXCH${String(index + 1).padStart(2, '0')}`;
  const fqdn = `${name}.${adDomain}`;
  const net = 10 + (index % 200);
  const domainSid = `S-1-5-21-${rng.range(1000000000, 4000000000)}-${rng.range(1000000000, 4000000000)}-${rng.range(100000000, 4000000000)}`;
  const dbGuids = Array.from({ length: 4 }, () => rng.guid());
  const used = new Set<string>();
  const users: User[] = [];
  let rid = 1105;
  for (let i = 0; i < userCount; i++) {
    let sam = `${rng.pick(FIRST)}.${rng.pick(LAST)}`;
    while (used.has(sam)) sam = `${sam}${rng.range(1, 9)}`;
    used.add(sam);
    rid += rng.range(1, 40);
    users.push(makeUser(rng, sam, netbios, domain, domainSid, rid, dbGuids, net));
  }
  const health: User[] = [];
  for (let i = 0; i < 3; i++) {
    const sam = `HealthMailbox${rng.hex(16)}`;
    rid += rng.range(1, 5);
    const u = makeUser(rng, sam, netbios, domain, domainSid, rid, dbGuids, net);
    u.smtp = `${sam}@${domain}`;
    u.ips = ['127.0.0.1', '::1', `10.${net}.1.${21 + index}`];
    health.push(u);
  }
  return {
    index,
    name,
    netbios,
    domain,
    adDomain,
    fqdn,
    mailHost: `mail.${domain}`,
    autodiscoverHost: `autodiscover.${domain}`,
    ip: `10.${net}.1.${21 + (index % 200)}`,
    lbIps: [`10.${net}.0.5`, `10.${net}.0.6`],
    build: BUILDS[index % BUILDS.length]!,
    domainSid,
    dbGuids,
    oabGuid: rng.guid(),
    addressListGuid: rng.guid(),
    users,
    health,
    dc: `DC0${1 + (index % 2)}.${adDomain}`,
  };
}

function makeUser(
  rng: Rng,
  sam: string,
  netbios: string,
  domain: string,
  domainSid: string,
  rid: number,
  dbGuids: string[],
  net: number,
): User {
  const ips = [`10.${net}.${rng.range(20, 90)}.${rng.range(10, 250)}`];
  if (rng.chance(0.7)) ips.push(publicIp(rng));
  if (rng.chance(0.4)) ips.push(publicIp(rng));
  const [mobile, deviceType] = rng.pick(MOBILE);
  const smtp = `${sam}@${domain}`;
  const sid = `${domainSid}-${rid}`;
  return {
    sam,
    account: `${netbios}\\${sam}`,
    smtp,
    sid,
    mailboxGuid: rng.guid(),
    dbGuid: rng.pick(dbGuids),
    ips,
    browser: rng.pick(BROWSERS),
    outlook: rng.pick(OUTLOOKS),
    mac: rng.chance(0.2) ? rng.pick(MAC_EWS) : undefined,
    mobile,
    deviceType,
    deviceId: rng.hex(16).toUpperCase(),
    canary: `${rng.chars(URLSAFE, 76)}.`,
    anchorSid: `Sid~${sid}`,
    anchorSmtp: `Smtp~${smtp}`,
  };
}

export { BROWSERS };
