/**
 * Archives are bounded (issue 10, reproduction 6): a zip whose entries share one deflate stream is refused before
 * anything is inflated, an archive that expands past its ratio or byte bound is cut and reported incomplete
 * (naming the archive and the member), and the rest of the hunt goes on. The zips are written by hand here, so
 * the test controls exactly what the central directory claims.
 */
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadKnowledgeBase } from '../advisories/index.js';
import { main } from '../cli/main.js';
import { generateLogs } from '../lab/loggen/index.js';
import type { ArchiveLimits } from './archive.js';
import { ArchiveBudget, bounded, overlappingEntries } from './archive.js';
import { huntConfig } from './config.js';
import { hunt } from './hunt.js';

const kb = loadKnowledgeBase();
const proxylogon = kb.advisories.find((a) => a.id === 'proxylogon-2021-03')!;
const config = huntConfig({
  advisories: [{ advisory: proxylogon, file: kb.fileOf.get(proxylogon.id)! }],
  sigmaPaths: [],
  iocFiles: [],
  strict: false,
});

const IIS_LOG =
  '#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n' +
  '2021-03-03 01:02:03 10.0.0.1 GET /owa/auth/x.js - 443 - 203.0.113.7 curl - 404 0 0 1\n';

interface ZipMember {
  name: string;
  data: Buffer;
}

/**
 * A zip of deflated members. `shareFirst`: every central-directory entry after the first points at the first
 * member's local header and data (the overlapping-entries bomb); their names still differ.
 */
function zipOf(members: ZipMember[], opts: { shareFirst?: number } = {}): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const entry = (name: string, data: Buffer, crc: number, packed: Buffer, at: number) => {
    const n = Buffer.from(name);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(8, 10); // deflate
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(packed.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(n.length, 28);
    c.writeUInt32LE(at, 42);
    central.push(c, n);
  };
  for (const m of members) {
    const packed = deflateRawSync(m.data, { level: 9 });
    const crc = crc32(m.data);
    const n = Buffer.from(m.name);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt16LE(8, 8);
    h.writeUInt32LE(crc, 14);
    h.writeUInt32LE(packed.length, 18);
    h.writeUInt32LE(m.data.length, 22);
    h.writeUInt16LE(n.length, 26);
    locals.push(h, n, packed);
    entry(m.name, m.data, crc, packed, offset);
    if (opts.shareFirst && offset === 0) {
      for (let i = 1; i < opts.shareFirst; i++)
        entry(`bomb/${String(i).padStart(4, '0')}.log`, m.data, crc, packed, 0);
    }
    offset += h.length + n.length + packed.length;
  }
  const dir = Buffer.concat(central);
  const count = central.length / 2;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

async function huntPaths(paths: string[], archiveLimits?: ArchiveLimits) {
  return hunt({
    paths,
    rules: config.rules,
    assess: config.assess,
    workers: 1,
    ...(archiveLimits ? { archiveLimits } : {}),
  });
}

const tmp = () => mkdtempSync(join(tmpdir(), 'bulwark-archive-'));

describe('zip bomb of overlapping entries (reproduction 6, small scale)', () => {
  it('is refused before anything is inflated, naming two members; the rest of the hunt goes on', async () => {
    const dir = tmp();
    // 1,000 entries share one deflate stream of 8 MiB of zeros (8 KiB packed): the zip declares 8 GB.
    const bomb = zipOf([{ name: 'bomb/0000.log', data: Buffer.alloc(8 << 20, 0x41) }], { shareFirst: 1000 });
    expect(bomb.length).toBeLessThan(200_000);
    writeFileSync(join(dir, 'EXCH02.zip'), bomb);
    writeFileSync(join(dir, 'u_ex210303.log'), IIS_LOG);
    const started = Date.now();
    const r = await huntPaths([dir]);
    expect(Date.now() - started).toBeLessThan(10_000);
    const refused = r.skipped.find((s) => s.file.endsWith('EXCH02.zip'))!;
    expect(refused).toMatchObject({ incomplete: true });
    expect(refused.reason).toMatch(
      /^zip refused, nothing read: members bomb\/\d{4}\.log and bomb\/\d{4}\.log share/,
    );
    expect(r.summary.bytes).toBeLessThan(10_000);
    expect(r.summary.incomplete_archives).toBe(1);
    // The plain log next to it is still hunted.
    expect(r.findings.some((f) => f.file.endsWith('u_ex210303.log'))).toBe(true);
  }, 30_000);

  it('agrees with a brute-force pairwise check on any layout (property)', () => {
    const span = fc
      .tuple(fc.nat(200), fc.nat(60))
      .map(([start, length]) => ({ start, end: start + 1 + length }));
    fc.assert(
      fc.property(fc.array(span, { maxLength: 12 }), (raw) => {
        const spans = raw.map((s, i) => ({ ...s, name: `m${i}` }));
        const clash = spans.some((a, i) => spans.some((b, j) => i < j && a.start < b.end && b.start < a.end));
        const found = overlappingEntries(spans);
        expect(found !== null).toBe(clash);
        if (found) {
          const [a, b] = found.map((n) => spans.find((s) => s.name === n)!);
          expect(a!.start < b!.end && b!.start < a!.end).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('finds overlaps of any kind, and none in a well-formed layout', () => {
    expect(overlappingEntries([])).toBeNull();
    expect(
      overlappingEntries([
        { name: 'a', start: 0, end: 100 },
        { name: 'b', start: 100, end: 150 },
      ]),
    ).toBeNull();
    expect(
      overlappingEntries([
        { name: 'b', start: 50, end: 60 },
        { name: 'a', start: 0, end: 100 },
      ]),
    ).toEqual(['a', 'b']);
    expect(
      overlappingEntries([
        { name: 'a', start: 0, end: 100 },
        { name: 'b', start: 10, end: 20 },
        { name: 'c', start: 30, end: 200 },
      ]),
    ).toEqual(['a', 'b']);
  });
});

describe('expansion bounds', () => {
  it('a member past the ratio is cut, the archive reported incomplete with the member and the members not read', async () => {
    const dir = tmp();
    const zip = join(dir, 'EXCH03.zip');
    writeFileSync(
      zip,
      zipOf([
        { name: 'Logging/a.log', data: Buffer.from(IIS_LOG) },
        // 32 MiB of repeated log lines: ~200× smaller packed, past 100× the archive.
        { name: 'Logging/b.log', data: Buffer.from(IIS_LOG.repeat(Math.ceil((32 << 20) / IIS_LOG.length))) },
        { name: 'Logging/c.log', data: Buffer.from(IIS_LOG) },
      ]),
    );
    const r = await huntPaths([dir]);
    const cut = r.skipped.find((s) => s.file.endsWith('EXCH03.zip'))!;
    expect(cut.incomplete).toBe(true);
    expect(cut.reason).toMatch(
      /^archive incomplete: decompression stopped in .*EXCH03\.zip!Logging\/b\.log after [\d.]+ MiB: 100× the archive's .* \(--max-archive-ratio\); 1 more member\(s\) not read$/,
    );
    expect(r.summary.bytes).toBeLessThanOrEqual(100 * statSync(zip).size);
    expect(r.summary.bytes).toBeLessThan(32 << 20);
    // What was read is still searched.
    expect(r.findings.some((f) => f.file.endsWith('EXCH03.zip!Logging/a.log'))).toBe(true);
    expect(r.findings.some((f) => f.file.endsWith('EXCH03.zip!Logging/b.log'))).toBe(true);
    expect(r.findings.some((f) => f.file.endsWith('EXCH03.zip!Logging/c.log'))).toBe(false);
  }, 30_000);

  it('a gzip past the byte bound is cut and reported; the CLI then never exits 0', async () => {
    const dir = tmp();
    const clean = IIS_LOG.replace('/owa/auth/x.js', '/owa/').repeat(20_000);
    writeFileSync(join(dir, 'u_ex210303.log.gz'), gzipSync(Buffer.from(clean)));
    const r = await huntPaths([dir], { maxBytes: 100_000, maxRatio: 1e9 });
    expect(r.skipped).toEqual([
      expect.objectContaining({
        incomplete: true,
        reason: expect.stringMatching(
          /after 0\.1 MiB: the limit of 0\.1 MiB per archive \(--max-archive-bytes\)/,
        ),
      }),
    ]);
    expect(r.summary.bytes).toBeLessThanOrEqual(100_000);
    const io = { out: (_: string) => {}, err: (_: string) => {}, color: false, env: {}, cwd: dir };
    let out = '';
    io.out = (t) => {
      out += t;
    };
    // With logs that make the server clean, the cut archive alone keeps the exit code at 1.
    const cleanLogs = join(dir, 'clean');
    await generateLogs({ out: cleanLogs, bytes: 1e6, seed: 5, attacks: 0 });
    const gz = join(dir, 'u_ex210303.log.gz');
    expect(
      await main(
        [
          'hunt',
          cleanLogs,
          gz,
          '--host',
          'EXCH01',
          '--max-archive-bytes',
          '10M',
          '--max-archive-ratio',
          '1000000',
        ],
        io,
      ),
    ).toBe(0);
    expect(out).toMatch(/^Host EXCH01: CLEAN/);
    out = '';
    expect(await main(['hunt', cleanLogs, gz, '--host', 'EXCH01', '--max-archive-bytes', '100000'], io)).toBe(
      1,
    );
    expect(out).toMatch(/^Host EXCH01: CLEAN/);
    expect(out).toMatch(/1 archive\(s\) not examined whole/);
    expect(out).toMatch(/u_ex210303\.log\.gz: decompression stopped in .*u_ex210303\.log\.gz after/);
    expect(await main(['hunt', dir, '--max-archive-bytes', 'lots'], io)).toBe(2);
    expect(await main(['hunt', dir, '--max-archive-ratio', '0'], io)).toBe(2);
  }, 30_000);

  it('bounded() passes at most the cap, however the input is chunked', async () => {
    const budget = new ArchiveBudget('x.zip', 10, { maxBytes: 2_500_000, maxRatio: 1e9 });
    async function* chunks() {
      for (let i = 0; i < 100; i++) yield Buffer.alloc(100_003);
    }
    let n = 0;
    for await (const c of bounded(chunks(), budget, 'x.zip!a')) n += c.length;
    expect(n).toBe(2_500_000);
    expect(budget.exceeded).toMatch(/x\.zip!a/);
    let after = 0;
    for await (const c of bounded(chunks(), budget, 'x.zip!b')) after += c.length;
    expect(after).toBe(0);
  });
});
