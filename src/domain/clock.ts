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

/** Katapult's rate-limit window is the clock minute (FACTS.md): the budget, the shares and `Retry-After` use it. */
export const MINUTE_MS = 60_000;

/** The clock minute `ms` falls in (minutes since the epoch). */
export function clockMinute(ms: number): number {
  return Math.floor(ms / MINUTE_MS);
}

/** When the clock minute after the one `ms` falls in begins (epoch ms). */
export function nextMinuteAt(ms: number): number {
  return (clockMinute(ms) + 1) * MINUTE_MS;
}

/** Whole seconds until that minute (at least 1): a `Retry-After` for anything that resets with the minute. */
export function secondsToNextMinute(ms: number): number {
  return Math.max(1, Math.ceil((nextMinuteAt(ms) - ms) / 1000));
}
