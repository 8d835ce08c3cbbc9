import type { Clock } from '../../src/domain/clock.js';

/** A clock that moves only when told. Starts at a fixed, non-round instant. */
export class FakeClock implements Clock {
  constructor(private t = Date.UTC(2026, 10, 22, 12, 0, 10)) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
