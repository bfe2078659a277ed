import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyCsvHeader, detectLog } from './detect.js';
import { ECP_FIELDS, EVENT_FIELDS, HTTPPROXY_FIELDS, IIS_DEFAULT_FIELDS, OABGEN_FIELDS } from './fields.js';

const fixture = (name: string) =>
  readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8').split('\n');

const EXCHANGE = (logType: string, extra: string[] = []) => [
  '#Software: Microsoft Exchange Server',
  '#Version: 15.02.0792.010',
  `#Log-type: ${logType}`,
  '#Date: 2021-03-03T06:00:00.000Z',
  ...extra,
];

describe('detectLog: Exchange logs by #Software and #Log-type', () => {
  it('HttpProxy with #Fields (any protocol folder), build from #Version', () => {
    const d = detectLog([
      ...EXCHANGE('HttpProxy Logs', ['#Fields: DateTime,RequestId,UrlStem,AnchorMailbox']),
      '2021-…',
    ]);
    expect(d).toEqual({
      type: 'exchange-httpproxy',
      format: 'csv',
      columns: ['DateTime', 'RequestId', 'UrlStem', 'AnchorMailbox'],
      headerLines: 5,
      build: '15.2.792.10',
      logType: 'HttpProxy Logs',
    });
  });

  it('HttpProxy whose #Fields is followed by the bare column line (Import-Csv style) counts it as header', () => {
    const d = detectLog([
      ...EXCHANGE('HttpProxy Logs', ['#Fields: DateTime,UrlStem']),
      'DateTime,UrlStem',
      '2021-x,/',
    ]);
    expect(d?.headerLines).toBe(6);
  });

  it('HttpProxy without #Fields: a bare header line, else the 74 default columns by position', () => {
    expect(
      detectLog([...EXCHANGE('HttpProxy Logs'), 'DateTime,RequestId,UrlStem,AnchorMailbox', 'x']),
    ).toMatchObject({
      type: 'exchange-httpproxy',
      columns: ['DateTime', 'RequestId', 'UrlStem', 'AnchorMailbox'],
      headerLines: 5,
    });
    expect(detectLog([...EXCHANGE('HttpProxy Logs'), '2021-03-03T06:00:00.000Z,…'])).toMatchObject({
      columns: HTTPPROXY_FIELDS,
      headerless: true,
      headerLines: 4,
    });
  });

  it('ECP Server, ECP Activity Context, OAB Generator', () => {
    expect(detectLog([...EXCHANGE('ECP Server Log', [`#Fields: ${ECP_FIELDS.join(',')}`])])).toMatchObject({
      type: 'exchange-ecp-server',
      columns: ECP_FIELDS,
    });
    expect(detectLog(EXCHANGE('ECP Activity Context Log', [`#Fields: ${ECP_FIELDS.join(',')}`]))?.type).toBe(
      'exchange-ecp-activity',
    );
    expect(detectLog(fixture('oabgen.log'))).toEqual({
      type: 'exchange-oabgen',
      format: 'csv',
      columns: ['Timestamp', 'RecordType', 'TraceId', 'OabGuid', 'AddressListGuid', 'Message'],
      headerLines: 5,
      build: '15.1.2176.2',
      logType: 'OAB Generator Log',
    });
    expect(detectLog(EXCHANGE('OAB Generator Log'))).toMatchObject({
      type: 'exchange-oabgen',
      columns: OABGEN_FIELDS,
    });
  });

  it('ignores the schema version 15.0.0.0 as a build', () => {
    const lines = ['#Software: Microsoft Exchange Server', '#Version: 15.0.0.0', '#Log-type: ECP Server Log'];
    expect(detectLog(lines)?.build).toBeUndefined();
  });

  it('other Exchange logs are not recognised', () => {
    expect(detectLog(EXCHANGE('EWS Logs', ['#Fields: DateTime,RequestId']))).toBeUndefined();
    expect(detectLog(EXCHANGE('Message Tracking Log', ['#Fields: date-time,client-ip']))).toBeUndefined();
  });
});

describe('detectLog: IIS W3C', () => {
  const fields = `#Fields: ${IIS_DEFAULT_FIELDS.join(' ')}`;
  it('by #Software or by a #Fields line of W3C names', () => {
    expect(
      detectLog([
        '#Software: Microsoft Internet Information Services 10.0',
        '#Version: 1.0',
        '#Date: 2021-03-05 00:00:00',
        fields,
      ]),
    ).toEqual({
      type: 'iis-w3c',
      format: 'w3c',
      columns: IIS_DEFAULT_FIELDS,
      headerLines: 4,
      logType: 'Microsoft Internet Information Services 10.0',
    });
    expect(detectLog(['# Fields: date time cs-method cs-uri-stem c-ip', '', '2021-…'])).toMatchObject({
      type: 'iis-w3c',
      columns: ['date', 'time', 'cs-method', 'cs-uri-stem', 'c-ip'],
      headerLines: 2,
    });
  });

  it('headerless lines by shape (s-ip may be anonymised), skipping separator lines', () => {
    const line =
      '2021-03-05 03:06:27 xxx GET /owa/auth/RedirSuiteServerProxy.aspx &CorrelationID=<empty>; 443 - 1.2.3.4 UA - 200 0 0 133';
    expect(detectLog(['-----', line])).toMatchObject({
      type: 'iis-w3c',
      columns: IIS_DEFAULT_FIELDS,
      headerless: true,
    });
    expect(detectLog(['2021-03-05 03:06:27 xxx GET /owa'])).toBeUndefined(); // too few tokens
  });
});

describe('detectLog: bare CSV headers', () => {
  it("Test-ProxyLogon's Export-Csv output", () => {
    const d = detectLog([
      '#TYPE Selected.System.Management.Automation.PSCustomObject',
      '"DateTime","RequestId","ClientIPAddress","UrlHost","UrlStem","RoutingHint","UserAgent","AnchorMailbox","HttpStatus"',
    ]);
    expect(d).toMatchObject({ type: 'exchange-httpproxy', headerLines: 2 });
    expect(d?.columns[2]).toBe('ClientIpAddress'); // spelling of the real column
    expect(d?.sourceColumns?.[2]).toBe('ClientIPAddress');
  });

  it('ECP columns, Event Viewer CSV (English, German), PowerShell event export', () => {
    expect(detectLog(['TimeStamp,ServerName,EventId,EventData'])).toMatchObject({
      type: 'exchange-ecp-server',
      columns: ECP_FIELDS,
    });
    expect(detectLog(['Level,Date and Time,Source,Event ID,Task Category'])).toEqual({
      type: 'windows-event-csv',
      format: 'event-csv',
      columns: ['Level', 'TimeCreated', 'Source', 'EventID', 'Task', 'Message'],
      sourceColumns: ['Level', 'Date and Time', 'Source', 'Event ID', 'Task Category'],
      headerLines: 1,
      localTime: true,
    });
    expect(detectLog(['Ebene,Datum und Uhrzeit,Quelle,Ereignis-ID,Aufgabenkategorie'])?.columns).toEqual([
      'Level',
      'TimeCreated',
      'Source',
      'EventID',
      'Task',
      'Message',
    ]);
    expect(
      detectLog([
        '#TYPE System.Diagnostics.Eventing.Reader.EventLogRecord',
        '"TimeCreated","MachineName","Message"',
      ]),
    ).toMatchObject({
      type: 'windows-event-csv',
      columns: ['TimeCreated', 'Computer', 'Message'],
      headerLines: 2,
    });
  });

  it('refuses headers that are not names, or too few HttpProxy names', () => {
    expect(classifyCsvHeader('2021-03-03,foo')).toBeUndefined();
    expect(classifyCsvHeader('name,age,city')).toBeUndefined();
    expect(classifyCsvHeader('DateTime,Foo,Bar,Baz,Qux')).toBeUndefined();
    expect(classifyCsvHeader('UrlStem,Foo')).toBeUndefined();
  });
});

describe('detectLog: Windows event XML', () => {
  it('wevtutil output and Event Viewer XML with a root element', () => {
    expect(detectLog(fixture('application-wevtutil.xml'))).toEqual({
      type: 'windows-event-xml',
      format: 'event-xml',
      columns: EVENT_FIELDS,
      headerLines: 0,
    });
    expect(
      detectLog(['<?xml version="1.0" encoding="utf-16"?>', '<Events>', '<Event xmlns="…">'])?.type,
    ).toBe('windows-event-xml');
    expect(detectLog(['<html><body>'])).toBeUndefined();
  });
});

describe('detectLog: unknown content', () => {
  it('returns undefined', () => {
    expect(detectLog([])).toBeUndefined();
    expect(detectLog(['', '   '])).toBeUndefined();
    expect(detectLog(['{"json": true}'])).toBeUndefined();
    expect(detectLog(['#Software: Some Other Product', '#Fields: a b c'])).toBeUndefined();
    expect(detectLog(['hello world', 'just text'])).toBeUndefined();
  });

  it('never throws (fuzz: arbitrary lines and plausible pieces)', () => {
    const piece = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.constantFrom(
        '#Software: Microsoft Exchange Server',
        '#Log-type: HttpProxy Logs',
        '#Log-type: ECP Server Log',
        '#Fields: ',
        '# Fields: date time',
        '#Version: 15.01.2375.007',
        '#TYPE x',
        '<Event xmlns=',
        'Level,Date and Time,Source,Event ID,Task Category',
        '"DateTime","AnchorMailbox","UrlStem"',
        '2021-03-05 03:06:27 x GET / a b c d e f g h i j k',
        '2021-03-03T06:00:00.000Z,S:CMD=x',
      ),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 35 }), (lines) => {
        const d = detectLog(lines);
        if (d) {
          expect(d.columns.length).toBeGreaterThan(0);
          expect(d.headerLines).toBeLessThanOrEqual(lines.length);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
