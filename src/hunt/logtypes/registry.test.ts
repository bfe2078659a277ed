import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { hunt } from '../hunt.js';
import { detectLog } from '../parse/detect.js';
import { parseLog } from '../parse/log.js';
import type { LineParser } from '../parse/parsers.js';
import { plainColumn } from '../sigma/fields.js';
import { compileRule, loadSigmaRule } from '../sigma/index.js';
import type { LogRecord } from '../types.js';
import { coverageLabel, logTypeOf, logTypes, registerLogType, typesForLogSource } from './registry.js';
import type { LogTypeDescriptor } from './types.js';

/**
 * A log type made up for this test ("demo key=value log"): everything it needs is this one descriptor, and the
 * hunt engine detects, parses and matches it without any other file knowing about it.
 */
const COLUMNS = ['ts', 'ip', 'path', 'ua'];
const demo: LogTypeDescriptor = {
  type: 'demo-kv',
  title: 'Demo key=value log',
  label: 'Demo',
  pathLabel: (p) => (/\/demo\//i.test(p) ? 'Demo folder' : undefined),
  detect: (lines) =>
    lines[0]?.startsWith('#DemoKV 1')
      ? { type: 'demo-kv', format: 'csv', columns: COLUMNS, headerLines: 1 }
      : undefined,
  clientField: 'ip',
  parse: {
    recordLevel: false,
    keywords: 'raw',
    lineParser: (detected): LineParser => ({
      detected,
      columns: COLUMNS,
      build: undefined,
      lastReason: '',
      recovered: 0,
      shortRows: 0,
      parse(line, lineNo, file) {
        if (line.startsWith('#') || !line.trim()) return 'header';
        const fields: Record<string, string> = {};
        for (const pair of line.split(' ')) {
          const eq = pair.indexOf('=');
          if (eq <= 0) return 'malformed';
          fields[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
        const rec: LogRecord = { type: 'demo-kv', file, line: lineNo, fields, raw: line };
        if (fields.ts) rec.timestamp = fields.ts;
        return rec;
      },
    }),
  },
  sigma: {
    logsources: [{ product: 'demo', service: 'kv', taxonomy: 'native' }],
    field: (taxonomy, name) =>
      taxonomy === 'native' && COLUMNS.includes(name) ? plainColumn(name) : undefined,
  },
  locations: { linux: ['/var/log/demo'] },
};

const RULE = `title: Demo web shell request
id: 0b5e0f0e-0000-4000-8000-000000000001
status: test
logsource: { product: demo, service: kv }
detection:
  selection:
    path|endswith: '.aspx'
    ua|contains: 'python'
  condition: selection
level: high
bulwark: { stage: post_exploitation }
`;

const LOG = [
  '#DemoKV 1',
  'ts=2021-03-03T01:02:03Z ip=203.0.113.5 path=/owa/auth/shell.aspx ua=python-requests/2.25',
  'ts=2021-03-03T01:02:04Z ip=198.51.100.7 path=/owa/ ua=Mozilla/5.0',
  '',
].join('\n');

const dir = mkdtempSync(join(tmpdir(), 'bulwark-logtype-'));
const unregister = registerLogType(demo);
afterAll(() => {
  unregister();
  rmSync(dir, { recursive: true, force: true });
});

describe('log-type registry', () => {
  it('holds one descriptor per built-in type, each with a parser choice, a Sigma mapping and a label', () => {
    const builtin = logTypes().filter((d) => d.type !== 'demo-kv');
    expect(builtin.map((d) => d.type)).toEqual([
      'exchange-httpproxy',
      'exchange-ecp-server',
      'exchange-ecp-activity',
      'exchange-oabgen',
      'iis-w3c',
      'windows-event-xml',
      'windows-event-csv',
    ]);
    for (const d of builtin) {
      expect(d.label.length).toBeGreaterThan(0);
      expect(d.sigma.logsources.length).toBeGreaterThan(0);
    }
    expect(logTypeOf('iis-w3c')?.locations.win32).toContain('%SystemDrive%\\inetpub\\logs\\LogFiles\\W3SVC*');
    expect(logTypeOf('exchange-httpproxy')?.locations.win32).toContain(
      '%ExchangeInstallPath%Logging\\HttpProxy\\*',
    );
  });

  it('a registered type is detected, parsed, labelled and Sigma-matched with no other file touched', async () => {
    expect(detectLog(LOG.split('\n'))?.type).toBe('demo-kv');
    // A built-in log is still the built-in type.
    expect(
      detectLog([
        '#Software: Microsoft Internet Information Services 10.0',
        '#Fields: date time c-ip cs-method cs-uri-stem',
      ])?.type,
    ).toBe('iis-w3c');

    const records: LogRecord[] = [];
    const parsed = await parseLog(Readable.from([Buffer.from(LOG)]), 'demo.log', (r) => records.push(r));
    expect(parsed.stats.type).toBe('demo-kv');
    expect(records.map((r) => r.fields.path)).toEqual(['/owa/auth/shell.aspx', '/owa/']);

    expect(typesForLogSource(undefined, 'demo', 'kv')).toEqual({ taxonomy: 'native', types: ['demo-kv'] });
    const loaded = loadSigmaRule(RULE, 'demo.yml');
    if (loaded.kind === 'unsupported') throw new Error(loaded.reason);
    const compiled = compileRule(loaded, 'demo-kv');
    if (compiled.kind === 'unsupported') throw new Error(compiled.reason);
    expect(records.map((r) => Boolean(compiled.match(r)))).toEqual([true, false]);
    expect(coverageLabel('x/demo/a.log', 'demo-kv')).toBe('Demo folder');
    expect(coverageLabel('a.log', 'demo-kv')).toBe('Demo');
  });

  it('the hunt engine finds the planted request in a registered type, and the IOC address rule reads it', async () => {
    mkdirp(join(dir, 'web01'));
    writeFileSync(join(dir, 'web01', 'access.log'), LOG);
    const result = await hunt({
      paths: [join(dir, 'web01')],
      host: 'web01',
      rules: {
        sources: [{ file: 'demo.yml', label: 'test demo.yml', text: RULE, pack: false }],
        strict: false,
        iocs: { sha256: [], ips: ['198.51.100.7'], paths: [] },
      },
      assess: { fixes: [] },
      workers: 1,
    });
    expect(result.files.map((f) => f.type)).toEqual(['demo-kv']);
    expect(result.findings.map((f) => [f.rule, f.line])).toEqual([
      ['0b5e0f0e-0000-4000-8000-000000000001', 2],
      ['ioc-attacker-ip', 3],
    ]);
    expect(result.hosts[0]?.verdict).toBe('compromised');
  });
});

function mkdirp(path: string) {
  rmSync(path, { recursive: true, force: true });
  mkdirSync(path, { recursive: true });
}
