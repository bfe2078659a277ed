/** The result of one hunt, as every report format renders it and `--json` prints it. */
import type { HostReport } from '../assess.js';
import type { HuntFinding, LogType } from '../types.js';

export interface FileSummary {
  file: string;
  host: string;
  type: LogType | null;
  bytes: number;
  lines: number;
  records: number;
  malformed: number;
  truncated: number;
  first: string | null;
  last: string | null;
  build: string | null;
  samples: { line: number; reason: string; text: string }[];
}

export interface UnsupportedRuleNote {
  rule: string;
  file: string;
  reason: string;
}

export interface HuntResult {
  hosts: HostReport[];
  findings: HuntFinding[];
  files: FileSummary[];
  /**
   * Files that are not a log Bulwark reads, and inputs that could not be read. `incomplete`: an archive refused or
   * cut at a bound (archive.ts), so part of what was given was not examined.
   */
  skipped: { file: string; reason: string; incomplete?: boolean }[];
  rules: { loaded: number; unsupported: UnsupportedRuleNote[] };
  summary: {
    files: number;
    bytes: number;
    seconds: number;
    mb_per_s: number;
    findings: number;
    malformed_lines: number;
    truncated_lines: number;
    /** Archives refused or not read to the end (see `skipped`). */
    incomplete_archives: number;
    mode: 'current' | 'strict-2021-03-02';
  };
}
