import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Wall-clock time in milliseconds since the epoch, and waiting on it. Injected so tests move time
 * instead of sleeping: a poll or a backoff waits with `sleep`, never with a timer of its own.
 */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };
