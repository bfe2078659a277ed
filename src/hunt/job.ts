/**
 * Running one job (a file, or a whole zip bundle) to completion: file-system checks on every member, and a log
 * scan on each member that is a log. Runs in a worker thread or in-process; its input and output are plain
 * data so both paths are the same code.
 */
import type { FileOutcome } from './assess.js';
import { fileFindings, type IocSet, needsHash, sha256Of } from './files.js';
import { type Job, jobFiles } from './inputs.js';
import { DEFAULT_SCAN_OPTIONS, type ScanRule, scanFile, scanPlainFile } from './logscan.js';
import { type DecodeInfo, decodeToUtf8Chunks } from './parse/index.js';
import type { HuntFinding, LogType } from './types.js';

export interface JobOutcome {
  files: FileOutcome[];
  findings: HuntFinding[];
  skipped: { file: string; reason: string; incomplete?: boolean }[];
}

/** Content that is never a log: not worth opening for detection. */
const NOT_A_LOG = /\.(aspx|ashx|asmx|asp|dll|exe|dmp|zip|7z|rar|cab|png|jpg|gif|ico|pdf|msi)$/i;

export async function runJob(
  job: Job,
  rulesFor: (type: LogType) => readonly ScanRule[],
  iocs: IocSet,
  onBytes: (n: number) => void = () => {},
): Promise<JobOutcome> {
  const out: JobOutcome = { files: [], findings: [], skipped: [] };
  for await (const item of jobFiles(job)) {
    if ('problem' in item) {
      out.skipped.push({
        file: item.display,
        reason: item.problem,
        ...(item.incomplete ? { incomplete: true } : {}),
      });
      continue;
    }
    const hash = needsHash(item.relative, iocs)
      ? await sha256Of(await item.open()).catch(() => undefined)
      : undefined;
    out.findings.push(...fileFindings(item, iocs, hash));
    if (NOT_A_LOG.test(item.relative)) {
      onBytes(item.size);
      continue;
    }
    if (item.path) {
      // Plain files: blocking reads into one reused buffer (undefined: UTF-16 or a record format, streamed below).
      try {
        const scan = scanPlainFile(
          { display: item.display, host: item.host, path: item.path },
          rulesFor,
          DEFAULT_SCAN_OPTIONS,
          onBytes,
        );
        if (scan) {
          if (!scan.detected) out.skipped.push({ file: item.display, reason: 'not a recognised log' });
          else {
            out.files.push({ host: item.host, relative: item.relative, stats: scan.stats });
            out.findings.push(...scan.findings);
          }
          continue;
        }
      } catch (err) {
        out.skipped.push({ file: item.display, reason: `cannot read: ${(err as Error).message}` });
        continue;
      }
    }
    const info: DecodeInfo = { bytes: 0 };
    let reported = 0;
    const counted = async function* (stream: AsyncIterable<Buffer>) {
      for await (const chunk of stream) {
        if (info.bytes - reported >= 1 << 23) {
          onBytes(info.bytes - reported);
          reported = info.bytes;
        }
        yield chunk;
      }
    };
    try {
      const stream = await item.open();
      const scan = await scanFile(
        { display: item.display, host: item.host, chunks: counted(decodeToUtf8Chunks(stream, info)) },
        rulesFor,
        DEFAULT_SCAN_OPTIONS,
      );
      scan.stats.bytes = info.bytes;
      onBytes(info.bytes - reported);
      if (!scan.detected) out.skipped.push({ file: item.display, reason: 'not a recognised log' });
      else {
        out.files.push({ host: item.host, relative: item.relative, stats: scan.stats });
        out.findings.push(...scan.findings);
      }
    } catch (err) {
      // A damaged gzip member or an unreadable file ends that file only.
      out.skipped.push({ file: item.display, reason: `cannot read: ${(err as Error).message}` });
    }
  }
  return out;
}
