// A warning that a flood can raise thousands of times a second, said at most once per period:
// the first occurrence at once, the ones after it as one line with their count at the period's
// end (and so on while they keep coming). A flood must not become a flood of log lines.

export class ThrottledWarning<Detail> {
  readonly #periodMs: number;
  readonly #say: (count: number, last: Detail) => void;
  #count = 0;
  #last: Detail | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** `say` writes the line: `count` occurrences, the last of them `last` */
  constructor(periodMs: number, say: (count: number, last: Detail) => void) {
    this.#periodMs = periodMs;
    this.#say = say;
  }

  hit(detail: Detail): void {
    if (this.#timer) {
      this.#count++;
      this.#last = detail;
      return;
    }
    this.#say(1, detail);
    this.#wait();
  }

  /** Stops the timer; occurrences not yet said are dropped (shutdown). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#count = 0;
  }

  #wait(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#count === 0) return;
      const count = this.#count;
      this.#count = 0;
      this.#say(count, this.#last!);
      this.#wait();
    }, this.#periodMs).unref();
  }
}
