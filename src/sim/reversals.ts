/**
 * Counts direction changes of a series, ignoring moves smaller than `minMove`: the
 * series must travel at least `minMove` from its last turning point against the last
 * direction for a reversal to count (a zig-zag filter). The simulator counts the
 * policy's targets and the guests' own need this way (the issue's flap measure).
 */
export class Reversals {
  count = 0;
  private anchor: number | undefined;
  private direction: 1 | -1 | 0 = 0;

  constructor(private readonly minMove: number) {}

  /** The next value; `start` is where the series is taken to begin (a balloon starts at the guest memory). */
  observe(value: number, start?: number): void {
    if (this.anchor === undefined) {
      this.anchor = start ?? value;
      if (start === undefined) return;
    }
    const move = value - this.anchor;
    const dir = move > 0 ? 1 : -1;
    if (this.direction !== 0 && dir === this.direction) {
      // Further in the same direction: the turning point moves with it.
      if (Math.abs(move) > 0) this.anchor = value;
      return;
    }
    if (Math.abs(move) < this.minMove) return;
    if (this.direction !== 0) this.count++;
    this.direction = dir;
    this.anchor = value;
  }
}
