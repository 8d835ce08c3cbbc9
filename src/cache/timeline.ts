import type { CacheEntry } from './entry.js';

/**
 * Where an entry is in its one timeline:
 *
 *   storedAt ── fresh ──┬── refresh-ahead ──┬── stale-while-revalidate ──┬── stale-if-error ──┬ gone
 *                       freshUntil − refreshAheadMs   freshUntil + swrMs          staleUntil
 *
 * - `fresh`: served as it is;
 * - `refresh-ahead`: served as it is, and a request starts a background refresh;
 * - `stale-while-revalidate`: served at once while one background refresh runs (RFC 5861 §3);
 * - `stale-if-error`: refreshed before answering, served only if that fails (RFC 5861 §4);
 * - `gone`: not servable (a not-found has no stale window: it is fresh, then gone).
 */
export type EntryState = 'fresh' | 'refresh-ahead' | 'stale-while-revalidate' | 'stale-if-error' | 'gone';

/** The windows of the timeline, in ms; without them an entry is fresh, then stale-if-error, then gone. */
export interface Windows {
  refreshAheadMs: number;
  swrMs: number;
}

const NONE: Windows = { refreshAheadMs: 0, swrMs: 0 };

/** The state of `entry` (undefined: nothing held) at `now`: the one place an entry's times are compared. */
export function stateOf(entry: CacheEntry | undefined, now: number, windows: Windows = NONE): EntryState {
  if (!entry) return 'gone';
  if (now < entry.freshUntil) return entry.kind === 'found' && now >= entry.freshUntil - windows.refreshAheadMs ? 'refresh-ahead' : 'fresh';
  if (entry.kind !== 'found' || now >= entry.staleUntil) return 'gone';
  return now < entry.freshUntil + windows.swrMs ? 'stale-while-revalidate' : 'stale-if-error';
}

/** Served without asking upstream first. */
export function isFresh(state: EntryState): boolean {
  return state === 'fresh' || state === 'refresh-ahead';
}

/** Of two entries, the one that stops being fresh first. */
export function firstToExpire<E extends CacheEntry>(a: E, b: E | undefined): E {
  return b && b.freshUntil <= a.freshUntil ? b : a;
}
