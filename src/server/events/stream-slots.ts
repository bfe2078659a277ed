/**
 * Open event streams of this process, counted per user and in total, so no user (and no crowd) can hold an
 * unbounded number of connections, file descriptors and stream buffers.
 */
export class StreamSlots {
  readonly #perUser: number;
  readonly #total: number;
  readonly #byUser = new Map<string, number>();
  #open = 0;

  constructor(perUser: number, total: number) {
    if (!Number.isInteger(perUser) || perUser < 1)
      throw new Error('perUser must be a whole number, 1 or more');
    if (!Number.isInteger(total) || total < 1) throw new Error('total must be a whole number, 1 or more');
    this.#perUser = perUser;
    this.#total = total;
  }

  get open(): number {
    return this.#open;
  }

  openOf(user: string): number {
    return this.#byUser.get(user) ?? 0;
  }

  /** Why `user` may not open another stream now, or undefined when it may. */
  refusal(user: string): string | undefined {
    if (this.openOf(user) >= this.#perUser)
      return `you have ${this.#perUser} event streams open, the most one user may; close one or retry later`;
    if (this.#open >= this.#total)
      return `the server has ${this.#total} event streams open, the most it serves; retry later`;
    return undefined;
  }

  /** Counts a stream of `user`; returns the function that releases it (calling it again does nothing). */
  take(user: string): () => void {
    this.#open++;
    this.#byUser.set(user, this.openOf(user) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open--;
      const left = this.openOf(user) - 1;
      if (left > 0) this.#byUser.set(user, left);
      else this.#byUser.delete(user);
    };
  }
}
