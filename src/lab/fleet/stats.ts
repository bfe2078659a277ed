/** Latency samples in a fixed ring (memory bounded whatever the fleet size) and their percentiles. */
export class LatencyRing {
  readonly #ring: Float64Array;
  #next = 0;
  #count = 0;
  #max = 0;

  constructor(size = 200_000) {
    this.#ring = new Float64Array(size);
  }

  add(ms: number): void {
    this.#ring[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#count++;
    if (ms > this.#max) this.#max = ms;
  }

  /** Samples since the last reset (the percentiles cover at most the ring's size, the newest). */
  summary(): { n: number; p50: number | null; p99: number | null; max: number | null } {
    const kept = Math.min(this.#count, this.#ring.length);
    if (!kept) return { n: 0, p50: null, p99: null, max: null };
    const s = this.#ring.slice(0, kept).sort();
    const at = (q: number) => s[Math.min(kept - 1, Math.max(0, Math.ceil(q * kept) - 1))] as number;
    return { n: this.#count, p50: at(0.5), p99: at(0.99), max: this.#max };
  }

  reset(): void {
    this.#next = 0;
    this.#count = 0;
    this.#max = 0;
  }
}
