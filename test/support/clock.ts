import type { Clock } from '../../src/domain/clock.js';

/**
 * A clock that moves only when told, or when the code under test sleeps on it: `sleep(ms)` moves it on by
 * `ms` (at most once for concurrent sleepers) without waiting real time. Nothing in the service sleeps on
 * the clock while it waits for a peer that keeps real time (Redis' lease expiries, the simulator): a lock
 * waiter waits for the holder's wake-up. Starts at a fixed, non-round instant.
 */
export class FakeClock implements Clock {
  constructor(private t = Date.UTC(2026, 10, 22, 12, 0, 10)) {}
  now(): number {
    return this.t;
  }
  /**
   * Moves fake time, not real time: a backoff is over at once. Sleepers that start together move the clock
   * once, as real time passes once for all of them; other work runs in between, as it would.
   */
  async sleep(ms: number): Promise<void> {
    const until = this.t + ms;
    await new Promise((resolve) => setImmediate(resolve));
    this.t = Math.max(this.t, until);
  }
  /** Moves the clock on by `stepMs` every few milliseconds of real time until `work` settles. */
  async passingWhile<T>(work: Promise<T>, stepMs = 50): Promise<T> {
    let done = false;
    const ticking = (async () => {
      while (!done) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (!done) this.t += stepMs;
      }
    })();
    try {
      return await work;
    } finally {
      done = true;
      await ticking;
    }
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
