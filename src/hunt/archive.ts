/**
 * Bounds on what an archive may expand to. A hunt reads bundles collected from customers' servers, which an
 * attacker on that server can shape: a small zip or gzip must not keep the hunt busy for hours or fill memory.
 *
 * - Decompressed bytes per archive (all members, nested `.gz` members included): at most `maxBytes`, and at most
 *   `maxRatio` × the archive's size on disk (never less than FLOOR_BYTES, so tiny archives are not refused).
 *   Logs compress about 5-20× with deflate; 100× leaves room and still stops a deflate bomb (~1,000×) early.
 * - Zip members that share compressed data (overlapping entries) are refused before anything is inflated.
 *
 * When a bound is reached the member being read is cut there (what was read is still searched), and the archive
 * is reported as incomplete, naming the member and the limit, with the count of members not read: never clean.
 */

export interface ArchiveLimits {
  /** Decompressed bytes per archive. */
  maxBytes: number;
  /** Decompressed bytes per byte of the archive on disk. */
  maxRatio: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxBytes: 64 * 2 ** 30, maxRatio: 100 };

/** Every archive may expand to this much whatever its ratio. */
export const FLOOR_BYTES = 1 << 20;

function mb(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}

/** The decompressed bytes one archive has produced so far, against its bound. */
export class ArchiveBudget {
  used = 0;
  /** Why the archive stopped, once a bound was reached. */
  exceeded: string | null = null;
  readonly cap: number;
  private readonly why: string;

  constructor(
    readonly archive: string,
    compressedBytes: number,
    limits: ArchiveLimits,
  ) {
    const byRatio = Math.max(FLOOR_BYTES, compressedBytes * limits.maxRatio);
    this.cap = Math.min(limits.maxBytes, byRatio);
    this.why =
      byRatio < limits.maxBytes
        ? `${limits.maxRatio}× the archive's ${mb(compressedBytes)} (--max-archive-ratio)`
        : `the limit of ${mb(limits.maxBytes)} per archive (--max-archive-bytes)`;
  }

  /** How many of `n` more bytes of `member` fit; when not all, the budget is exceeded from now on. */
  take(n: number, member: string): number {
    const room = Math.max(0, this.cap - this.used);
    if (n <= room) {
      this.used += n;
      return n;
    }
    this.used += room;
    this.exceeded ??= `decompression stopped in ${member} after ${mb(this.cap)}: ${this.why}`;
    return room;
  }
}

/**
 * `stream` passed through and counted against `budget`; at the cap it ends early (leaving the loop closes the
 * source, which destroys the inflating stream), so at most `cap` bytes are ever inflated and held.
 */
export async function* bounded(
  stream: AsyncIterable<Buffer>,
  budget: ArchiveBudget,
  member: string,
): AsyncGenerator<Buffer> {
  if (budget.exceeded) return;
  for await (const chunk of stream) {
    const fits = budget.take(chunk.length, member);
    if (fits > 0) yield fits === chunk.length ? chunk : chunk.subarray(0, fits);
    if (budget.exceeded) return;
  }
}

/**
 * The names of two members whose bytes in the zip (local header to end of compressed data) overlap, or null.
 * `start` is the local header's offset, `end` the end of the member's compressed data.
 */
export function overlappingEntries(
  spans: readonly { name: string; start: number; end: number }[],
): [string, string] | null {
  const sorted = [...spans].sort((a, b) => a.start - b.start || a.end - b.end);
  let widest: (typeof sorted)[number] | undefined;
  for (const s of sorted) {
    if (widest && s.start < widest.end) return [widest.name, s.name];
    if (!widest || s.end > widest.end) widest = s;
  }
  return null;
}
