import type { Clock } from '../../src/domain/clock.js';

/**
 * A clock that moves only when told, or when the code under test waits on it: `sleep(ms)` moves it on by
 * `ms` (at most once for concurrent sleepers), so a deadline computed on the clock is reached after that
 * many milliseconds of waiting. The wait
 * also takes `ms` of real time, because the peers of a test (Redis' own expiries, the simulator's latency)
 * keep real time. Starts at a fixed, non-round instant.
 */
export class FakeClock implements Clock {
  constructor(private t = Date.UTC(2026, 10, 22, 12, 0, 10)) {}
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    // Sleepers waiting at once move the clock once, as real time passes once for all of them.
    const until = this.t + ms;
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.t = Math.max(this.t, until);
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
