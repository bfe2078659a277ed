import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LogRecord } from '../types.js';
import { type Detected, detectLog } from './detect.js';
import { ECP_FIELDS, EVENT_FIELDS, HTTPPROXY_FIELDS, IIS_DEFAULT_FIELDS } from './fields.js';
import { parseLog } from './log.js';
import {
  createLineParser,
  createRecordParser,
  eventDataItems,
  eventFields,
  type LineResult,
  levelNumber,
} from './parsers.js';

const fixtureText = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');

async function* once(buf: Buffer) {
  yield buf;
}

async function parseText(text: string | Buffer, file = 'f.log', opts = {}) {
  const records: LogRecord[] = [];
  const r = await parseLog(
    once(Buffer.isBuffer(text) ? text : Buffer.from(text)),
    file,
    (x) => records.push(x),
    opts,
  );
  return { ...r, records };
}

const isRecord = (r: LineResult): r is LogRecord => typeof r === 'object';

const HP: Detected = {
  type: 'exchange-httpproxy',
  format: 'csv',
  columns: [...HTTPPROXY_FIELDS],
  headerLines: 0,
};
const IIS: Detected = { type: 'iis-w3c', format: 'w3c', columns: [...IIS_DEFAULT_FIELDS], headerLines: 0 };

/** RFC 4180 encoding of one record (quote when needed). */
const csv = (values: string[]) =>
  values.map((v) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v)).join(',');

describe('line parser: Exchange CSV', () => {
  it('maps values onto the #Fields columns and normalises the timestamp', () => {
    const p = createLineParser({ ...HP, columns: ['DateTime', 'AnchorMailbox', 'UserAgent'] });
    const r = p.parse(
      '2021-03-03T06:49:42.162Z,"ServerInfo~a]@x:444/ecp/y?#","Mozilla/5.0 (KHTML, like Gecko) ""q"""',
      9,
      'a.log',
    );
    expect(r).toEqual({
      type: 'exchange-httpproxy',
      file: 'a.log',
      line: 9,
      timestamp: '2021-03-03T06:49:42.162Z',
      fields: {
        DateTime: '2021-03-03T06:49:42.162Z',
        AnchorMailbox: 'ServerInfo~a]@x:444/ecp/y?#',
        UserAgent: 'Mozilla/5.0 (KHTML, like Gecko) "q"',
      },
      raw: '2021-03-03T06:49:42.162Z,"ServerInfo~a]@x:444/ecp/y?#","Mozilla/5.0 (KHTML, like Gecko) ""q"""',
    });
  });

  it('a new #Fields mid-file (service restart) changes the columns; # and blank lines are headers', () => {
    const p = createLineParser({ ...HP, columns: ['DateTime', 'UrlStem'] });
    expect((p.parse('2021-03-03T00:00:00.000Z,/owa/', 10, 'f') as LogRecord).fields).toEqual({
      DateTime: '2021-03-03T00:00:00.000Z',
      UrlStem: '/owa/',
    });
    expect(p.parse('#Software: Microsoft Exchange Server', 11, 'f')).toBe('header');
    expect(p.parse('#Version: 15.01.2242.004', 12, 'f')).toBe('header');
    expect(p.parse('#Fields: DateTime,UrlStem,HttpStatus', 13, 'f')).toBe('header');
    expect(p.build).toBe('15.1.2242.4');
    expect(p.columns).toEqual(['DateTime', 'UrlStem', 'HttpStatus']);
    expect((p.parse('2021-03-03T01:00:00.000Z,/ecp/,200', 14, 'f') as LogRecord).fields.HttpStatus).toBe(
      '200',
    );
    expect(p.parse('', 15, 'f')).toBe('header');
    expect(p.parse('2021-03-03T01:00:00.000Z,/ecp/', 16, 'f')).toBe('malformed');
    expect(p.lastReason).toBe('expected 3 values, got 2');
  });

  it('a bare header line mid-file is a header, also with new columns', () => {
    const p = createLineParser({ ...HP, columns: ['DateTime', 'UrlStem'] });
    expect(p.parse('DateTime,UrlStem', 5, 'f')).toBe('header');
    expect(p.parse('"DateTime","UrlStem","HttpStatus"', 6, 'f')).toBe('header');
    expect(p.columns).toEqual(['DateTime', 'UrlStem', 'HttpStatus']);
  });

  it('lines within the detected header are headers; unterminated quotes are malformed', () => {
    const p = createLineParser({ ...HP, columns: ['a', 'b'], headerLines: 2 });
    expect(p.parse('whatever,x', 2, 'f')).toBe('header');
    expect(p.parse('x,"open', 3, 'f')).toBe('malformed');
    expect(p.lastReason).toBe('unterminated quoted value');
  });

  it('headerless shorter rows map by position (at least through HttpStatus)', () => {
    const p = createLineParser({ ...HP, headerless: true });
    const values = [
      '2021-03-07T15:04:04.546Z',
      '1a51fb75-2f6f-4a40-8129-ff80098494a0',
      '15',
      '0',
      '1395',
      '0',
    ];
    while (values.length < 20) values.push(`v${values.length}`);
    const r = p.parse(values.join(','), 1, 'f');
    expect(isRecord(r) && Object.keys(r.fields)).toEqual(HTTPPROXY_FIELDS.slice(0, 20));
    expect(p.shortRows).toBe(1);
    expect(p.parse(values.slice(0, 19).join(','), 2, 'f')).toBe('malformed');
    expect(p.parse(['not a time', ...values.slice(1)].join(','), 3, 'f')).toBe('malformed');
    expect(p.lastReason).toBe('no timestamp where the columns put one');
  });

  it('ECP: surplus values belong to EventData; S: items exposed (quoted items unquoted)', () => {
    const p = createLineParser({
      type: 'exchange-ecp-server',
      format: 'csv',
      columns: [...ECP_FIELDS],
      headerLines: 0,
    });
    const r = p.parse(
      "2021-03-03T06:49:53.772Z,EX01,ECP.Request,S:CMD=Get-X;S:EX=a,b,c;'S:URL=/ecp/?q=''x'';y'",
      1,
      'f',
    );
    expect(isRecord(r) && r.fields).toEqual({
      TimeStamp: '2021-03-03T06:49:53.772Z',
      ServerName: 'EX01',
      EventId: 'ECP.Request',
      EventData: "S:CMD=Get-X;S:EX=a,b,c;'S:URL=/ecp/?q=''x'';y'",
      'EventData.CMD': 'Get-X',
      'EventData.EX': 'a,b,c',
      'EventData.URL': "/ecp/?q='x';y",
    });
    expect(p.recovered).toBe(1);
  });

  it('eventDataItems ignores non-S items and tolerates unterminated quotes', () => {
    expect(eventDataItems('Dbl:X=1;I32:Y=2;S:A=b;;S:C=')).toEqual([
      ['A', 'b'],
      ['C', ''],
    ]);
    expect(eventDataItems("'S:CMD=open")).toEqual([['CMD', 'open']]);
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        eventDataItems(s, true);
      }),
    );
  });

  it('OAB generator log: quoted Message with commas; the CVE-2021-26858 line is a record', async () => {
    const r = await parseText(fixtureText('oabgen.log'), 'oabgen.log');
    expect(r.detected?.type).toBe('exchange-oabgen');
    expect(r.records).toHaveLength(3);
    expect(r.records[1]).toMatchObject({
      line: 7,
      timestamp: '2021-03-03T07:03:05.821Z',
      fields: {
        RecordType: 'ErrorTrace',
        Message:
          "Download failed and temporary file 'C:\\inetpub\\wwwroot\\aspnet_client\\shell.aspx' needs to be removed, error: 404",
      },
    });
  });
});

describe('line parser: IIS W3C', () => {
  const line = (ua: string) =>
    `2021-03-05 03:06:27 10.0.0.5 POST /ecp/DDI/DDIService.svc/SetObject schema=ResetOABVirtualDirectory 443 CORP\\EX01$ 1.2.3.4 ${ua} - 200 0 0 133`;

  it('`-` is empty, `+` stays, date+time → timestamp', () => {
    const r = createLineParser(IIS).parse(line('Mozilla/5.0+(Windows+NT)'), 4, 'u_ex210305.log');
    expect(r).toMatchObject({
      line: 4,
      timestamp: '2021-03-05T03:06:27.000Z',
      fields: {
        'cs-username': 'CORP\\EX01$',
        'cs(User-Agent)': 'Mozilla/5.0+(Windows+NT)',
        'cs(Referer)': '',
      },
    });
  });

  it('surplus tokens (raw spaces) merge into cs(User-Agent); without that field the line is malformed', () => {
    const p = createLineParser(IIS);
    const r = p.parse(line('python  requests/2.25.1 x'), 1, 'f');
    expect(isRecord(r) && r.fields['cs(User-Agent)']).toBe('python  requests/2.25.1 x');
    expect(isRecord(r) && r.fields['sc-status']).toBe('200');
    expect(p.recovered).toBe(1);
    const noUa = createLineParser({ ...IIS, columns: ['date', 'time', 'cs-uri-stem'] });
    expect(noUa.parse('2021-03-05 03:06:27 /a b', 1, 'f')).toBe('malformed');
    expect(noUa.parse('2021-03-05 03:06:27', 2, 'f')).toBe('malformed');
  });

  it('a new #Fields mid-file changes the columns', () => {
    const p = createLineParser(IIS);
    expect(p.parse('#Fields: date time cs-uri-stem sc-status', 5, 'f')).toBe('header');
    expect(p.parse('2021-03-06 00:00:01 /owa/auth/x.aspx 200', 6, 'f')).toMatchObject({
      fields: { date: '2021-03-06', time: '00:00:01', 'cs-uri-stem': '/owa/auth/x.aspx', 'sc-status': '200' },
    });
  });

  it('file with CRLF and a mid-file restart header, read end to end', async () => {
    const text = [
      '#Software: Microsoft Internet Information Services 10.0',
      '#Version: 1.0',
      '#Date: 2021-03-05 00:00:00',
      `#Fields: ${IIS_DEFAULT_FIELDS.join(' ')}`,
      line('UA1'),
      '#Software: Microsoft Internet Information Services 10.0',
      '#Version: 1.0',
      '#Date: 2021-03-05 12:00:00',
      '#Fields: date time c-ip cs-method cs-uri-stem sc-status',
      '2021-03-05 12:00:01 5.6.7.8 GET /owa/auth/RedirSuiteServerProxy.aspx 200',
      '2021-03-05 12:00:02 5.6.7.8 GET /owa/auth/RedirSuiteServerProxy.aspx',
    ].join('\r\n');
    const r = await parseText(text);
    expect(r.records.map((x) => [x.line, x.fields['c-ip'], x.fields['sc-status']])).toEqual([
      [5, '1.2.3.4', '200'],
      [10, '5.6.7.8', '200'],
    ]);
    expect(r.stats).toMatchObject({ lines: 11, records: 2, malformed: 1 });
    expect(r.stats.samples).toEqual([
      {
        line: 11,
        reason: 'expected 6 space-separated values, got 5',
        text: '2021-03-05 12:00:02 5.6.7.8 GET /owa/auth/RedirSuiteServerProxy.aspx',
      },
    ]);
  });
});

describe('whole files: encodings, truncation, garbage', () => {
  const httpProxyFile = (eol: string) =>
    [
      '#Software: Microsoft Exchange Server',
      '#Version: 15.01.2176.002',
      '#Log-type: HttpProxy Logs',
      '#Date: 2021-03-03T06:00:00.000Z',
      '#Fields: DateTime,RequestId,UrlStem,AnchorMailbox,HttpStatus',
      '2021-03-03T06:49:42.162Z,r1,/ecp/y.js,ServerInfo~a]@ex:444/autodiscover/autodiscover.xml?#,200',
      '2021-03-03T06:49:46.210Z,r2,/ecp/y.js,ServerInfo~a]@ex:444/ecp/proxyLogon.ecp?#,241',
      '2021-03-03T06:49:4',
    ].join(eol);

  it('UTF-16LE with BOM and CRLF gives the same records as UTF-8 with LF; the truncated last line is malformed', async () => {
    const utf8 = await parseText(httpProxyFile('\n'));
    const utf16 = await parseText(
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(httpProxyFile('\r\n'), 'utf16le')]),
    );
    expect(utf16.encoding).toBe('utf16le-bom');
    expect(utf16.records).toEqual(utf8.records);
    expect(utf8.records.map((r) => r.fields.HttpStatus)).toEqual(['200', '241']);
    expect(utf8.stats).toMatchObject({
      type: 'exchange-httpproxy',
      build: '15.1.2176.2',
      records: 2,
      malformed: 1,
    });
    expect(utf8.stats.samples).toEqual([
      { line: 8, reason: 'expected 5 values, got 1', text: '2021-03-03T06:49:4' },
    ]);
  });

  it('a line over the bound is cut and reported; binary garbage is counted, never fatal', async () => {
    const text = Buffer.concat([
      Buffer.from(`${httpProxyFile('\n')}\n`),
      Buffer.from(`2021-03-03T06:50:00.000Z,r3,/owa/${'A'.repeat(5000)},x,200\n`),
      Buffer.from([0x00, 0xff, 0x13, 0x37, 0x00, 0x0a]),
      Buffer.from('2021-03-03T06:51:00.000Z,r4,/owa/,x,200\n'),
    ]);
    const r = await parseText(text, 'f', { maxLineBytes: 1000 });
    expect(r.records.map((x) => x.fields.RequestId)).toEqual(['r1', 'r2', 'r4']);
    expect(r.stats).toMatchObject({ lines: 11, truncated: 1, malformed: 3 });
    expect(r.stats.samples.map((s) => [s.line, s.reason])).toEqual([
      [8, 'expected 5 values, got 1'],
      [9, 'line longer than 1000 bytes, cut'],
      [9, 'expected 5 values, got 3'],
      [10, 'binary (NUL bytes)'],
    ]);
  });

  it('a file that is not a log is left alone', async () => {
    const r = await parseText('just some text\nmore\n');
    expect(r.detected).toBeUndefined();
    expect(r.stats).toMatchObject({ lines: 2, records: 0, malformed: 0 });
  });
});

describe('record parser: wevtutil XML', () => {
  it('one event per line (wevtutil qe /f:xml), RenderedXml message, entities decoded', async () => {
    const r = await parseText(fixtureText('application-wevtutil.xml'), 'app.xml');
    expect(r.detected?.type).toBe('windows-event-xml');
    expect(r.records).toHaveLength(3);
    const [um, is, spp] = r.records as [LogRecord, LogRecord, LogRecord];
    expect(um).toMatchObject({
      type: 'windows-event-xml',
      line: 1,
      timestamp: '2021-03-03T06:51:12.234Z',
      fields: {
        Provider: 'MSExchange Unified Messaging',
        Source: 'MSExchange Unified Messaging',
        EventID: '1001',
        Qualifiers: '49152',
        Level: '2',
        Computer: 'EXCH01.corp.local',
        Channel: 'Application',
        EventRecordID: '418220',
      },
    });
    expect(um.fields.Message).toContain(
      "System.InvalidCastException: Unable to cast object of type 'System.Windows.Data",
    );
    expect(um.fields.Message).toContain('Deserialize(Byte[] data) & more');
    expect(um.fields.Message?.startsWith('UM worker process\n')).toBe(true);
    expect(is.fields).toMatchObject({ Database: 'Mailbox Database 0123456789', Duration: '12', Level: '4' });
    expect(spp.fields).toMatchObject({
      Provider: 'Microsoft-Windows-Security-SPP',
      Source: 'Software Protection Platform Service',
      LevelName: 'Information',
      Message:
        'Successfully scheduled Software Protection service for re-start at 2121-02-07T07:01:02Z. Reason: RulesEngine.',
    });
    expect(r.stats).toMatchObject({
      records: 3,
      malformed: 0,
      host: 'EXCH01.corp.local',
      first: '2021-03-03T06:51:12.234Z',
    });
  });

  it('pretty-printed events inside <Events> (Event Viewer XML, UTF-16LE with BOM), two events on one line', async () => {
    const text = fixtureText('application-wevtutil.xml')
      .trim()
      .split('\n')
      .map((e) => e.replaceAll('><', '>\r\n  <'))
      .join('\r\n');
    const doc = `<?xml version="1.0" encoding="UTF-16"?>\r\n<Events>\r\n${text}\r\n</Events>`;
    const r = await parseText(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(doc, 'utf16le')]));
    expect(r.encoding).toBe('utf16le-bom');
    expect(r.records.map((x) => x.fields.EventRecordID)).toEqual(['418220', '418221', '418222']);
    expect(r.records[0]!.line).toBe(3);
    const flat = fixtureText('application-wevtutil.xml').trim().split('\n').join('');
    const one = await parseText(`<Events>${flat}</Events>`);
    expect(one.records.map((x) => [x.line, x.fields.EventID])).toEqual([
      [1, '1001'],
      [1, '9665'],
      [1, '16384'],
    ]);
  });

  it('an export written as one huge line (beyond the line bound) still yields every event', async () => {
    const events = fixtureText('application-wevtutil.xml').trim().split('\n');
    const many = Array.from({ length: 3000 }, (_, i) => events[i % 3]!).join('');
    const doc = `<?xml version="1.0" encoding="UTF-16"?><Events>${many}</Events>`;
    expect(doc.length).toBeGreaterThan(2_000_000);
    const r = await parseText(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(doc, 'utf16le')]), 'f', {
      maxLineBytes: 65536,
    });
    expect(r.records).toHaveLength(3000);
    expect(r.stats).toMatchObject({ lines: 1, records: 3000, malformed: 0, truncated: 0 });
  });

  it('text pushed in chunks cut anywhere gives the same records and line numbers (fuzz)', () => {
    const d = detectLog(['<Event>'])!;
    const text = `<Events>\r\n${fixtureText('application-wevtutil.xml').replaceAll('><', '>\n<')}</Events>\n`;
    const run = (cuts: number[]) => {
      const p = createRecordParser(d, 'f');
      const out: LogRecord[] = [];
      let pos = 0;
      for (const c of [...cuts.filter((x) => x < text.length).sort((a, b) => a - b), text.length]) {
        out.push(...p.pushText!(text.slice(pos, c)));
        pos = c;
      }
      out.push(...p.end());
      return out;
    };
    const whole = run([]);
    expect(whole.map((r) => r.line)).toEqual([2, 20, 38]);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: text.length }), { maxLength: 30 }), (cuts) => {
        expect(run(cuts)).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  it('bounds a record: an over-long event is dropped and reported, the next one is parsed; unclosed at end', () => {
    const d = detectLog(['<Event xmlns=x>'])!;
    const p = createRecordParser(d, 'f', { maxRecordChars: 200 });
    const events = fixtureText('application-wevtutil.xml').trim().split('\n');
    expect(p.push('<Event><System>', 1)).toEqual([]);
    for (let i = 2; i < 50; i++) expect(p.push('<Data>xxxxxxxxxxxxxxxxxxxx</Data>', i)).toEqual([]);
    expect(p.push('</System></Event>', 50)).toEqual([]);
    const p2 = createRecordParser(d, 'f');
    expect(p2.push(events[1]!, 51)).toHaveLength(1);
    expect(p.truncated).toBe(1);
    expect(p.malformed).toBe(1);
    expect(p.samples[0]).toMatchObject({ line: 1, reason: 'event longer than 200 characters' });
    expect(p.push('<Event><System><Provider Name="x"/>', 52)).toEqual([]);
    expect(p.end()).toEqual([]);
    expect(p.malformed).toBe(2);
    expect(p.samples[1]).toMatchObject({ line: 52, reason: 'event not closed at end of file' });
  });

  it('malformed events are counted, not fatal', () => {
    const p = createRecordParser(detectLog(['<Event>'])!, 'f');
    expect(
      p.push('<Event><NoSystem/></Event><Event xmlns="a"><System><EventID>1</EventID></System></Event>', 1),
    ).toHaveLength(1);
    expect(p.malformed).toBe(1);
    expect(eventFields('<Event>')).toBe('no <System> element');
  });

  it('the same events split at any tag boundary give the same records (fuzz)', () => {
    const d = detectLog(['<Event>'])!;
    const data = fc.string({ maxLength: 30 }).map((s) => s.replace(/[^\x20-\x7e]/g, ''));
    const event = fc.record({
      id: fc.integer({ min: 0, max: 65535 }),
      level: fc.integer({ min: 0, max: 5 }),
      data: fc.array(data, { maxLength: 3 }),
    });
    const esc = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
    const xmlOf = (e: { id: number; level: number; data: string[] }) =>
      `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='P'/><EventID>${e.id}</EventID><Level>${e.level}</Level><TimeCreated SystemTime='2021-03-03T06:51:12.000Z'/><Computer>C</Computer></System><EventData>${e.data.map((x) => `<Data>${esc(x)}</Data>`).join('')}</EventData></Event>`;
    fc.assert(
      fc.property(
        fc.array(event, { minLength: 1, maxLength: 4 }),
        fc.array(fc.boolean(), { maxLength: 200 }),
        (evs, cuts) => {
          const whole = evs.map(xmlOf).join('');
          let k = 0;
          const split = whole.replace(/></g, () => (cuts[k++ % Math.max(1, cuts.length)] ? '>\n<' : '><'));
          const run = (text: string) => {
            const p = createRecordParser(d, 'f');
            const out = text.split('\n').flatMap((l, i) => p.push(l, i + 1));
            out.push(...p.end());
            expect(p.malformed).toBe(0);
            return out.map((r) => r.fields);
          };
          const fields = run(whole);
          expect(run(split)).toEqual(fields);
          expect(fields.map((f) => f.EventID)).toEqual(evs.map((e) => String(e.id)));
          expect(fields.map((f) => f.Message)).toEqual(
            evs.map((e) => e.data.map((x) => x.trim()).join('\n')),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('record parser: Event Viewer CSV', () => {
  it('multi-line quoted message (CRLF), level names mapped to numbers, local time read as UTC', async () => {
    const r = await parseText(fixtureText('application-eventviewer.csv'), 'app.csv');
    expect(r.detected).toMatchObject({ type: 'windows-event-csv', localTime: true });
    expect(
      r.records.map((x) => [x.line, x.fields.Level, x.fields.LevelName, x.fields.EventID, x.timestamp]),
    ).toEqual([
      [2, '2', 'Error', '1001', '2021-03-03T06:51:12.000Z'],
      [6, '4', 'Information', '9665', '2021-03-03T07:00:00.000Z'],
      [7, '3', 'Warning', '1003', '2021-03-03T12:05:09.000Z'],
    ]);
    const um = r.records[0]!.fields;
    expect(um).toMatchObject({
      Provider: 'MSExchange Unified Messaging',
      Source: 'MSExchange Unified Messaging',
      Task: 'UMWorkerProcess',
    });
    expect(um.Message).toBe(
      'An unhandled exception occurred in a UM worker process: System.InvalidCastException: Unable to cast object of type System.Windows.Data.ObjectDataProvider.\n' +
        '   at Microsoft.Exchange.UM.UMCore.CallContext.Deserialize(Byte[] data)\n' +
        '   at Microsoft.Exchange.UM.UMCore.UMWorkerProcess.Run("ProcessCall", 2)\n',
    );
    expect(r.stats).toMatchObject({ lines: 7, records: 3, malformed: 0 });
  });

  it("Test-ProxyLogon's -Cve-2021-26857.csv shape (Export-Csv of TimeCreated, MachineName, Message)", async () => {
    const text = [
      '#TYPE Selected.System.Diagnostics.Eventing.Reader.EventLogRecord',
      '"TimeCreated","MachineName","Message"',
      '"3/3/2021 6:51:12 AM","EXCH01.corp.local","An unhandled exception occurred in a UM worker process: System.InvalidCastException',
      'at x"',
    ].join('\r\n');
    const r = await parseText(text);
    expect(r.records).toEqual([
      {
        type: 'windows-event-csv',
        file: 'f.log',
        line: 3,
        timestamp: '2021-03-03T06:51:12.000Z',
        fields: {
          TimeCreated: '3/3/2021 6:51:12 AM',
          Computer: 'EXCH01.corp.local',
          Message:
            'An unhandled exception occurred in a UM worker process: System.InvalidCastException\nat x',
        },
        raw: '"3/3/2021 6:51:12 AM","EXCH01.corp.local","An unhandled exception occurred in a UM worker process: System.InvalidCastException\nat x"',
      },
    ]);
  });

  it('bounds a record: an unclosed quote is cut at the bound and parsing resumes at the next record line', () => {
    const d = detectLog(['Level,Date and Time,Source,Event ID,Task Category'])!;
    const p = createRecordParser(d, 'f', { maxRecordChars: 100 });
    expect(p.push('Error,3/3/2021 6:51:12 AM,S,1,None,"never closed', 2)).toEqual([]);
    for (let i = 3; i < 20; i++) expect(p.push('more text of the broken message', i)).toEqual([]);
    expect(p.push('Information,3/3/2021 7:00:00 AM,S,2,None,ok', 20)).toHaveLength(1);
    expect(p).toMatchObject({ truncated: 1, malformed: 1 });
    expect(p.push('Error,3/3/2021 6:51:12 AM,S,1,None,"open at end', 21)).toEqual([]);
    expect(p.end()).toEqual([]);
    expect(p.malformed).toBe(2);
    expect(p.samples.map((s) => s.reason)).toEqual([
      'record longer than 100 characters',
      'quoted value not closed at end of file',
    ]);
  });

  it('messages split over any number of lines round-trip (fuzz)', () => {
    const d = detectLog(['Level,Date and Time,Source,Event ID,Task Category'])!;
    const msg = fc.array(
      fc.string({ maxLength: 15 }).map((s) => s.replace(/[\r\n]/g, '')),
      { minLength: 1, maxLength: 4 },
    );
    fc.assert(
      fc.property(fc.array(msg, { minLength: 1, maxLength: 5 }), (messages) => {
        const p = createRecordParser(d, 'f');
        const lines = ['Level,Date and Time,Source,Event ID,Task Category'];
        for (const m of messages)
          lines.push(...csv(['Error', '3/3/2021 6:51:12 AM', 'Src', '1', 'None', m.join('\n')]).split('\n'));
        const out = lines.flatMap((l, i) => p.push(l, i + 1));
        out.push(...p.end());
        expect(out.map((r) => r.fields.Message)).toEqual(messages.map((m) => m.join('\n')));
      }),
      { numRuns: 300 },
    );
  });

  it('levelNumber', () => {
    expect(
      ['Critical', 'Error', 'Warning', 'Information', 'Verbose', 'Fehler', 'Erreur', '2'].map((l) =>
        levelNumber(l),
      ),
    ).toEqual(['1', '2', '3', '4', '5', '2', '2', '2']);
    expect(levelNumber('banana')).toBeUndefined();
  });
});

describe('fuzz: every parser takes any input without throwing', () => {
  const kinds: Detected[] = [
    HP,
    { ...HP, headerless: true },
    {
      ...HP,
      columns: ['DateTime', 'UrlHost', 'UrlStem', 'UserAgent', 'HttpStatus', 'Method'],
      reduced: true,
      headerLines: 1,
    },
    { type: 'exchange-ecp-server', format: 'csv', columns: [...ECP_FIELDS], headerLines: 5 },
    {
      type: 'exchange-ecp-server',
      format: 'ecp-reduced',
      columns: ['TimeStamp', 'EventData'],
      headerLines: 2,
      reduced: true,
    },
    { type: 'exchange-oabgen', format: 'csv', columns: ['Timestamp', 'Message'], headerLines: 5 },
    IIS,
    { ...IIS, headerless: true },
    { type: 'windows-event-xml', format: 'event-xml', columns: [...EVENT_FIELDS], headerLines: 0 },
    {
      type: 'windows-event-csv',
      format: 'event-csv',
      columns: ['Level', 'TimeCreated', 'Source', 'EventID', 'Task', 'Message'],
      sourceColumns: ['Level', 'Date and Time', 'Source', 'Event ID', 'Task Category'],
      headerLines: 1,
    },
  ];
  const line = fc.oneof(
    fc.string({ maxLength: 120 }),
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc
      .array(
        fc.constantFrom(
          '2021-03-03T06:49:42.162Z',
          '"',
          ',',
          ' ',
          '-',
          'S:CMD=',
          "'",
          '#Fields: a,b',
          '<Event>',
          '</Event>',
          'Error',
          '\t',
        ),
        {
          maxLength: 30,
        },
      )
      .map((a) => a.join('')),
  );

  it('line parsers return a record, header or malformed', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...kinds.filter((k) => !k.format.startsWith('event'))),
        fc.array(line, { maxLength: 20 }),
        (d, lines) => {
          const p = createLineParser(d);
          lines.forEach((l, i) => {
            const r = p.parse(l, i + 1, 'f');
            if (r === 'malformed') expect(p.lastReason.length).toBeGreaterThan(0);
            else if (r !== 'header') {
              expect(r.raw).toBe(l);
              expect(r.line).toBe(i + 1);
              for (const v of Object.values(r.fields)) expect(typeof v).toBe('string');
            }
          });
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('record parsers never throw and account for every record', () => {
    fc.assert(
      fc.property(fc.constantFrom(...kinds), fc.array(line, { maxLength: 20 }), (d, lines) => {
        const p = createRecordParser(d, 'f', { maxRecordChars: 300 });
        const out = lines.flatMap((l, i) => p.push(l, i + 1));
        out.push(...p.end());
        expect(p.samples.length).toBeLessThanOrEqual(5);
        for (const r of out) expect(r.type).toBe(d.type);
      }),
      { numRuns: 1000 },
    );
  });

  it('HttpProxy rows round-trip: any 74 values, CSV-encoded, come back as fields', () => {
    const p = createLineParser(HP);
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 12 }), { minLength: 73, maxLength: 73 }), (rest) => {
        const values = ['2021-03-03T06:49:42.162Z', ...rest.map((v) => v.replace(/[\r\n]/g, ''))];
        const r = p.parse(csv(values), 1, 'f');
        expect(isRecord(r) && Object.values(r.fields)).toEqual(values);
      }),
      { numRuns: 300 },
    );
  });

  it('W3C lines round-trip: tokens without spaces come back as fields (`-` as empty)', () => {
    const p = createLineParser(IIS);
    const token = fc.string({ minLength: 1, maxLength: 10 }).map((s) => s.replace(/[\s#]/g, 'x'));
    fc.assert(
      fc.property(fc.array(token, { minLength: 13, maxLength: 13 }), (rest) => {
        const tokens = ['2021-03-05', '03:06:27', ...rest];
        const r = p.parse(tokens.join(' '), 1, 'f');
        expect(isRecord(r) && Object.values(r.fields)).toEqual(tokens.map((t) => (t === '-' ? '' : t)));
      }),
      { numRuns: 300 },
    );
  });
});
