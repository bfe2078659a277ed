/**
 * Log output of the lab emulator: Exchange HttpProxy rows (74 columns, 2016 CU22 / 2019 layout) and IIS W3C lines,
 * written the way an Exchange front end would lay them out on disk so `bulwark hunt` can be pointed at the folder.
 *
 * Lines are buffered in memory and appended per file at most every second (and on close / when the buffer grows
 * past a threshold): a farm of thousands of emulators may log thousands of lines a second and one `appendFile`
 * per request would dominate. A header is written only when this writer creates the file.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HTTPPROXY_FIELDS, type HttpProxyField, IIS_EXCHANGE_FIELDS } from '../core/index.js';

export { HTTPPROXY_FIELDS } from '../core/index.js';

export type HttpProxyRow = Partial<Record<HttpProxyField, string | number | boolean>>;

export const W3C_FIELDS = IIS_EXCHANGE_FIELDS.join(' ');

export interface W3cRow {
  time: Date;
  serverIp: string;
  method: string;
  uriStem: string;
  uriQuery: string;
  serverPort: number;
  username: string;
  clientIp: string;
  userAgent: string;
  referer: string;
  status: number;
  substatus: number;
  win32Status: number;
  timeTakenMs: number;
}

/** `15.1.2176.2` → `15.01.2176.002`, as the HttpProxy `#Version:` line writes the installed build. */
export function paddedBuild(parts: readonly number[]): string {
  const [major = 0, minor = 0, build = 0, revision = 0] = parts;
  return `${major}.${String(minor).padStart(2, '0')}.${String(build).padStart(4, '0')}.${String(revision).padStart(3, '0')}`;
}

/** RFC 4180 quoting when needed; CR/LF never reach a log line (one request = one line). */
export function csvValue(value: string | number | boolean | undefined): string {
  if (value === undefined) return '';
  const text = String(value).replace(/[\r\n]+/g, ' ');
  return /[",]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function formatHttpProxyRow(row: HttpProxyRow): string {
  return HTTPPROXY_FIELDS.map((f) => csvValue(row[f])).join(',');
}

export function httpProxyHeader(buildParts: readonly number[], now: Date): string[] {
  return [
    '#Software: Microsoft Exchange Server',
    `#Version: ${paddedBuild(buildParts)}`,
    '#Log-type: HttpProxy Logs',
    `#Date: ${now.toISOString()}`,
    `#Fields: ${HTTPPROXY_FIELDS.join(',')}`,
  ];
}

/** W3C value: whitespace and control characters become `+`, empty becomes `-`. */
export function w3cValue(value: string | number): string {
  const text = String(value);
  if (text === '') return '-';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is replaced
  return text.replace(/[\s\x00-\x1f\x7f]/g, '+');
}

function w3cDateTime(d: Date): { date: string; time: string } {
  const iso = d.toISOString();
  return { date: iso.slice(0, 10), time: iso.slice(11, 19) };
}

export function formatW3cRow(r: W3cRow): string {
  const { date, time } = w3cDateTime(r.time);
  return [
    date,
    time,
    r.serverIp,
    r.method,
    r.uriStem,
    r.uriQuery,
    r.serverPort,
    r.username,
    r.clientIp,
    r.userAgent,
    r.referer,
    r.status,
    r.substatus,
    r.win32Status,
    r.timeTakenMs,
  ]
    .map(w3cValue)
    .join(' ');
}

export function w3cHeader(now: Date): string[] {
  const { date, time } = w3cDateTime(now);
  return [
    '#Software: Microsoft Internet Information Services 10.0',
    '#Version: 1.0',
    `#Date: ${date} ${time}`,
    `#Fields: ${W3C_FIELDS}`,
  ];
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** `<root>/Logging/HttpProxy/<Owa|Ecp>/HttpProxy_<yyyyMMddHH>-1.LOG` (UTC hour). */
export function httpProxyLogPath(root: string, protocol: 'Owa' | 'Ecp', at: Date): string {
  const stamp = `${at.getUTCFullYear()}${pad2(at.getUTCMonth() + 1)}${pad2(at.getUTCDate())}${pad2(at.getUTCHours())}`;
  return join(root, 'Logging', 'HttpProxy', protocol, `HttpProxy_${stamp}-1.LOG`);
}

/** `<root>/inetpub/logs/LogFiles/W3SVC1/u_ex<yymmdd>.log` (UTC day). */
export function w3cLogPath(root: string, at: Date): string {
  const stamp = `${pad2(at.getUTCFullYear() % 100)}${pad2(at.getUTCMonth() + 1)}${pad2(at.getUTCDate())}`;
  return join(root, 'inetpub', 'logs', 'LogFiles', 'W3SVC1', `u_ex${stamp}.log`);
}

interface PendingFile {
  header: string[];
  lines: string[];
}

/** Buffered appender shared by one emulator or by a whole farm. Never throws from `append`. */
export class LabLogWriter {
  private pending = new Map<string, PendingFile>();
  private pendingBytes = 0;
  private readonly known = new Set<string>();
  private chain: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** The first write error, if any (disk full, permissions); later lines are still attempted. */
  lastError: Error | undefined;

  constructor(
    private readonly flushIntervalMs = 1000,
    private readonly maxPendingBytes = 1 << 20,
  ) {
    this.timer = setInterval(() => void this.flush(), this.flushIntervalMs);
    this.timer.unref();
  }

  /** `header` is used only if this writer ends up creating the file. */
  append(file: string, header: () => string[], line: string): void {
    if (this.closed) return;
    let p = this.pending.get(file);
    if (!p) {
      p = { header: this.known.has(file) ? [] : header(), lines: [] };
      this.pending.set(file, p);
    }
    p.lines.push(line);
    this.pendingBytes += line.length + 1;
    if (this.pendingBytes >= this.maxPendingBytes) void this.flush();
  }

  /** Writes everything buffered so far; resolves when it is on disk. */
  flush(): Promise<void> {
    if (this.pending.size === 0) return this.chain;
    const batch = this.pending;
    this.pending = new Map();
    this.pendingBytes = 0;
    this.chain = this.chain.then(() => this.write(batch));
    return this.chain;
  }

  async close(): Promise<void> {
    if (this.closed) return this.chain;
    clearInterval(this.timer);
    await this.flush();
    this.closed = true;
  }

  private async write(batch: Map<string, PendingFile>): Promise<void> {
    for (const [file, p] of batch) {
      try {
        let text = p.lines.join('\n');
        if (!this.known.has(file)) {
          await mkdir(dirname(file), { recursive: true });
          const exists = await stat(file).then(
            () => true,
            () => false,
          );
          if (!exists && p.header.length > 0) text = `${p.header.join('\n')}\n${text}`;
          this.known.add(file);
        }
        await writeFile(file, `${text}\n`, { flag: 'a' });
      } catch (error) {
        this.lastError ??= error instanceof Error ? error : new Error(String(error));
      }
    }
  }
}
