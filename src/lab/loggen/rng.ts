/**
 * Seeded pseudo-random numbers for the log generator: sfc32 (small, fast, good statistical quality), seeded through
 * splitmix32 so neighbouring seeds give unrelated streams. Same seed → same sequence on every platform.
 */

const HEX2: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    const mix = splitmix32((seed ^ Math.imul(stream + 1, 0x27d4eb2d)) >>> 0);
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Uniform unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** Exponentially distributed with the given mean (for think times and latencies). */
  exp(mean: number): number {
    return -Math.log(1 - this.float()) * mean;
  }

  /** Lower-case hex string of `bytes` random bytes. */
  hex(bytes: number): string {
    let s = '';
    for (let i = 0; i < bytes; i += 4) {
      const v = this.u32();
      s += HEX2[v & 0xff]! + HEX2[(v >>> 8) & 0xff]! + HEX2[(v >>> 16) & 0xff]! + HEX2[v >>> 24]!;
    }
    return s.length === bytes * 2 ? s : s.slice(0, bytes * 2);
  }

  /** A random (version 4 shaped) GUID, lower case, `8-4-4-4-12`. */
  guid(): string {
    const a = this.u32();
    const b = this.u32();
    const c = this.u32();
    const d = this.u32();
    return (
      HEX2[a & 0xff]! +
      HEX2[(a >>> 8) & 0xff]! +
      HEX2[(a >>> 16) & 0xff]! +
      HEX2[a >>> 24]! +
      '-' +
      HEX2[b & 0xff]! +
      HEX2[(b >>> 8) & 0xff]! +
      '-4' +
      HEX2[(b >>> 16) & 0xff]!.charAt(1) +
      HEX2[b >>> 24]! +
      '-' +
      HEX2[(c & 0x3f) | 0x80]! +
      HEX2[(c >>> 8) & 0xff]! +
      '-' +
      HEX2[(c >>> 16) & 0xff]! +
      HEX2[c >>> 24]! +
      HEX2[d & 0xff]! +
      HEX2[(d >>> 8) & 0xff]! +
      HEX2[(d >>> 16) & 0xff]! +
      HEX2[d >>> 24]!
    );
  }

  /** Random string over an alphabet. */
  chars(alphabet: string, n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet.charAt(this.int(alphabet.length));
    return s;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = xs[i]!;
      xs[i] = xs[j]!;
      xs[j] = t;
    }
    return xs;
  }
}

/** Picks from weighted choices in O(log n) via a cumulative table built once. */
export class Weighted<T> {
  private readonly items: T[];
  private readonly cum: number[];
  private readonly total: number;

  constructor(choices: ReadonlyArray<readonly [T, number]>) {
    this.items = [];
    this.cum = [];
    let acc = 0;
    for (const [item, w] of choices) {
      if (w <= 0) continue;
      acc += w;
      this.items.push(item);
      this.cum.push(acc);
    }
    if (!this.items.length) throw new Error('Weighted: no choice with a positive weight');
    this.total = acc;
  }

  pick(rng: Rng): T {
    const x = rng.float() * this.total;
    let lo = 0;
    let hi = this.cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cum[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return this.items[lo]!;
  }
}
