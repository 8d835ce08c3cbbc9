import { LRUCache } from 'lru-cache';
import type { RefreshLock } from './refresh-lock.js';
import { BACKGROUND, type Cause } from '../domain/cause.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../observability/logger.js';
import { strongEtag, type CacheEntry, type FoundEntry, type Served, type Tier, type WriteOutcome } from './entry.js';
import type { TieredStore } from './tiered-store.js';
import { isFresh, stateOf } from './timeline.js';

/**
 * What a loader learned from upstream: the held entry is still current, a new representation, or "no
 * such thing". `freshMs`, when given, is how long this kind of value stays fresh (else the engine's).
 */
export type Loaded =
  | { kind: 'not_modified'; freshMs?: number }
  | { kind: 'found'; body: string; upstreamEtags: (string | null)[]; pages?: number[]; freshMs?: number }
  | { kind: 'not_found'; code: string };

/**
 * Fetches a key's value from upstream. `previous` is the entry held (for conditional requests), `cause`
 * who pays for the call. Throws when upstream could not answer.
 */
export type Loader = (previous: FoundEntry | undefined, cause: Cause) => Promise<Loaded>;

/** How a loader's failures are told apart: the engine knows no upstream. */
export interface FailurePolicy {
  /**
   * A refusal by our own guards rather than a failure upstream: `caller` when it concerns this caller only
   * (its share), `everyone` otherwise (budget, circuit). Refusals are neither marked nor logged as failures.
   */
  refusal(err: unknown): 'caller' | 'everyone' | null;
  /** True for a failure a held entry may answer for (stale-if-error); anything else (a bug) propagates. */
  servable(err: unknown): boolean;
  /** The short code a fleet-wide failure mark carries; and the error a waiter raises from one. */
  markOf(err: unknown): string;
  fromMark(code: string, message: string): Error;
  /** What a waiter without a stale copy raises when the holder's result does not come in time. */
  timeout(): Error;
}

export interface EngineOptions {
  store: TieredStore;
  clock: Clock;
  logger: Logger;
  /** Fleet-wide refresh lock; null without Redis (per-instance single-flight only). */
  lock: RefreshLock | null;
  failures: FailurePolicy;
  freshMs: number;
  staleMs: number;
  negativeMs: number;
  /** The timeline's windows (`cache/timeline.ts`). */
  swrMs: number;
  refreshAheadMs: number;
  /** How long a request waits for another instance's refresh before giving up. */
  waitMs: number;
  /** How long it waits when it holds a servable stale copy, which it answers with after that. */
  staleWaitMs: number;
  /** Told about each answer `resolve` gives, for metrics. */
  onServed?: (served: Served) => void;
}

/**
 * The cache engine: one model of time per entry (fresh → stale → gone), for any resource.
 * - fresh: served as it is; in its last `refreshAheadMs` a request also starts a background refresh;
 * - stale for up to `swrMs`: served at once while one background refresh runs (stale-while-revalidate);
 * - stale beyond that, until `staleUntil`: refreshed before answering, served stale if that fails
 *   (stale-if-error, RFC 5861);
 * - a not-found is remembered for `negativeMs`.
 * One refresh per key runs at a time in this process, and with Redis one per key in the whole fleet (a
 * leased lock with fencing; after taking it, a refresh that finds a newer entry than the one it was
 * started for calls nobody). A refresh before answering is paid for by the caller's `cause`; background
 * refreshes are the service's own.
 */
export class CacheEngine {
  readonly #inflight = new Map<string, { promise: Promise<Served>; cause: Cause }>();
  /** The last refresh failure per key, so later stale answers still say the data could not be refreshed. */
  readonly #failures = new LRUCache<string, Error>({ max: 10_000 });

  constructor(private readonly o: EngineOptions) {}

  /** The answer for `key`: from the cache, or loaded. */
  async resolve(key: string, load: Loader, cause: Cause): Promise<Served> {
    return this.report(await this.lookup(key, load, cause));
  }

  /** Counts an answer a resource gave from what the engine holds (a get decided by its list), and returns it. */
  report(served: Served): Served {
    this.o.onServed?.(served);
    return served;
  }

  /** As `resolve`, without counting the answer: for lookups a resource makes on its own behalf. */
  async lookup(key: string, load: Loader, cause: Cause): Promise<Served> {
    const found = await this.o.store.get(key);
    const held = found?.entry;
    const tier = found?.tier ?? null;
    const state = stateOf(held, this.o.clock.now(), this.o);
    if (held && state !== 'gone' && state !== 'stale-if-error') {
      if (state !== 'fresh') this.refreshInBackground(key, load, held);
      if (isFresh(state)) return { entry: held, status: 'HIT', tier, refreshError: null, coalesced: false };
      return { entry: held, status: 'STALE', tier, refreshError: this.#failures.get(key) ?? null, coalesced: false };
    }
    try {
      return await this.#refresh(key, load, held, cause);
    } catch (err) {
      // stale-if-error: a failed refresh never replaces a good entry (RFC 5861 §4).
      if (!this.o.failures.servable(err) || held?.kind !== 'found') throw err;
      return { entry: held, status: 'STALE', tier, refreshError: err as Error, coalesced: false };
    }
  }

  /** The entry held for `key` in any state up to `staleUntil`, without loading anything. */
  async held(key: string): Promise<{ entry: CacheEntry; tier: Tier } | undefined> {
    return this.o.store.get(key);
  }

  /** What L1 holds for `key` (servable, any state), synchronously: for the cache-hit path, which passes its reading of the clock. */
  peek(key: string, now?: number): CacheEntry | undefined {
    return this.o.store.l1.peek(key, now);
  }

  /**
   * What the tiers hold for each of `keys`, as `held` does, read at once: L1 first, the rest from Redis
   * together (one round trip, not one per key), refilling L1.
   */
  async heldMany(keys: string[]): Promise<Array<CacheEntry | undefined>> {
    return Promise.all(keys.map(async (key) => this.o.store.l1.peek(key) ?? (await this.o.store.get(key))?.entry));
  }

  /** Moves whenever L1 stores or drops an entry: what was checked against L1 at one value holds while it does. */
  get changes(): number {
    return this.o.store.l1.version;
  }

  /** The entries under every key matching one of `patterns` (globs), in either tier: for an admin's purge. */
  matching(patterns: string[]): Promise<CacheEntry[]> {
    return this.o.store.matching(patterns);
  }

  /** An answer derived from entries (a shaped list), kept in L1's bounded space for such answers. */
  derived(key: string): FoundEntry | undefined {
    return this.o.store.l1.derived(key);
  }

  keepDerived(key: string, entry: FoundEntry): void {
    this.o.store.l1.keepDerived(key, entry);
  }

  /** The `coding` bytes of the answer tagged `etag`, made by `make` once and kept in L1 under its bound. */
  encoded(etag: string, coding: string, make: () => Buffer): Buffer {
    return this.o.store.l1.encoded(etag, coding, make);
  }

  /** Starts a refresh nobody waits for, unless one is already running for the key. */
  refreshInBackground(key: string, load: Loader, entry: CacheEntry): void {
    const running = this.#inflight.get(key);
    void (running ? running.promise : this.#refresh(key, load, entry, BACKGROUND)).catch((err: unknown) => this.#backgroundFailed(key, err));
  }

  /**
   * Loads `key` for `cause` with nobody waiting, unless what the tiers hold is fresh by now (another
   * request or instance may have loaded it since this was asked for): a list's detail, fetched for the
   * consumer whose list needs it, or kept fresh as upkeep. Shares a refresh already running; resolves
   * when done, whatever the outcome.
   */
  async fetchIfDue(key: string, load: Loader, cause: Cause): Promise<void> {
    const running = this.#inflight.get(key);
    if (running) return void (await running.promise.catch(() => undefined));
    const held = (await this.o.store.get(key))?.entry;
    if (isFresh(stateOf(held, this.o.clock.now()))) return;
    await this.#refresh(key, load, held, cause).catch((err: unknown) => this.#backgroundFailed(key, err));
  }

  #backgroundFailed(key: string, err: unknown): void {
    this.o.logger.debug({ key, err: (err as Error).message }, 'background refresh failed');
  }

  /** Starts a background refresh of a held entry that is past its freshness. */
  refreshIfExpired(key: string, load: Loader, entry: CacheEntry): void {
    if (entry.kind === 'found' && !isFresh(stateOf(entry, this.o.clock.now()))) this.refreshInBackground(key, load, entry);
  }

  /** Resolves once every refresh running now has finished (background ones included). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#inflight.values()].map((r) => r.promise));
  }

  /** One refresh per key at a time in this process; late callers share the first one's result. */
  #refresh(key: string, load: Loader, previous: CacheEntry | undefined, cause: Cause): Promise<Served> {
    const running = this.#inflight.get(key);
    if (running) {
      return running.promise.then(
        (s) => ({ ...s, coalesced: true }),
        (err: unknown) => {
          // The running refresh was refused by our own guards for its cause (its consumer's share, the
          // background's part of the budget), which says nothing of this consumer's: it asks for itself,
          // charged to itself. A refusal that holds for everyone (a 429 block, an open circuit) is
          // refused again at once, without a call.
          if (this.o.failures.refusal(err) && cause.priority === 'consumer' && !sameCharge(running.cause, cause)) {
            return this.#refresh(key, load, previous, cause);
          }
          throw err;
        },
      );
    }
    const promise = this.#refreshShared(key, load, previous, cause)
      .then(
        (served) => {
          this.#failures.delete(key);
          return served;
        },
        (err: unknown) => {
          const refusal = this.o.failures.refusal(err);
          if (refusal !== 'caller' && this.o.failures.servable(err)) {
            this.#failures.set(key, err as Error);
            // Our own guards log their refusals themselves, once; upstream's failures here.
            if (!refusal) this.o.logger.warn({ key, err: (err as Error).message, priority: cause.priority }, 'refresh failed');
          }
          throw err;
        },
      )
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, { promise, cause });
    return promise;
  }

  /** With Redis, only the holder of the key's lock calls upstream; the others wait for its entry. */
  async #refreshShared(key: string, load: Loader, previous: CacheEntry | undefined, cause: Cause): Promise<Served> {
    const { lock, store, failures } = this.o;
    const servable = previous?.kind === 'found' && stateOf(previous, this.o.clock.now()) !== 'gone' ? previous : null;
    // A consumer waits no longer than its own deadline, however long the holder may take.
    const own = cause.priority === 'consumer' ? (cause.deadline ?? Infinity) : Infinity;
    const deadline = Math.min(this.o.clock.now() + (servable ? this.o.staleWaitMs : this.o.waitMs), own);
    for (;;) {
      const acquired = lock ? await lock.acquire(key) : null;
      if (!acquired) return (await this.#loadAndStore(key, load, previous, cause, 0)).served;
      if (acquired.kind === 'failed') throw failures.fromMark(acquired.error, 'a refresh of this key failed moments ago');
      if (acquired.kind === 'acquired') {
        const stopHeartbeat = lock!.heartbeat(key, acquired.fence);
        // The write of the result lets go of the lock in the same round trip; otherwise it is released here.
        let released = false;
        try {
          // Another instance may have refreshed between our read and our lock: then no upstream call.
          const { current } = acquired;
          if (current && current.storedAt > (previous?.storedAt ?? -Infinity) && isFresh(stateOf(current, this.o.clock.now()))) {
            await store.fill(key, current);
            return fromElsewhere(current, previous);
          }
          const { served, outcome } = await this.#loadAndStore(key, load, previous, cause, acquired.fence);
          released = outcome !== 'failed';
          return served;
        } catch (err) {
          // Upstream itself failed: the others stop waiting and serve stale. A refusal by our own guards
          // is not marked: it may not apply to the next caller.
          if (failures.servable(err) && !failures.refusal(err)) await lock!.markFailed(key, failures.markOf(err));
          throw err;
        } finally {
          stopHeartbeat();
          if (!released) await lock!.release(key, acquired.fence);
        }
      }
      const waited = await lock!.waitFor(key, previous?.storedAt ?? -Infinity, deadline);
      if (waited.kind === 'entry') {
        await store.fill(key, waited.entry);
        return fromElsewhere(waited.entry, previous);
      }
      if (waited.kind === 'failed') throw failures.fromMark(waited.error, 'the refresh of this key failed on another instance');
      if (waited.kind === 'timeout') {
        // Another instance is still refreshing: answer with what we hold rather than keep the caller waiting.
        if (servable) return { entry: servable, status: 'STALE', tier: null, refreshError: null, coalesced: true };
        throw failures.timeout();
      }
      // 'released': the holder went away without a result; loop to take over.
    }
  }

  async #loadAndStore(key: string, load: Loader, previous: CacheEntry | undefined, cause: Cause, fence: number): Promise<{ served: Served; outcome: WriteOutcome }> {
    const loaded = await load(previous?.kind === 'found' ? previous : undefined, cause);
    const now = this.o.clock.now();
    const times = (freshMs: number, staleMs: number) => ({ storedAt: now, freshUntil: now + freshMs, staleUntil: now + freshMs + staleMs });
    let entry: CacheEntry;
    if (loaded.kind === 'not_found') {
      entry = { kind: 'not_found', code: loaded.code, etag: strongEtag(loaded.code), ...times(this.o.negativeMs, 0) };
    } else {
      const { body, upstreamEtags, pages } = loaded.kind === 'found' ? loaded : (previous as FoundEntry);
      entry = { kind: 'found', body, etag: strongEtag(body), upstreamEtags, pages, ...times(loaded.freshMs ?? this.o.freshMs, this.o.staleMs) };
    }
    const outcome = await this.o.store.set(key, entry, fence);
    const unchanged = previous?.kind === 'found' && entry.kind === 'found' && previous.etag === entry.etag;
    return { served: { entry, status: unchanged ? 'REVALIDATED' : 'MISS', tier: null, refreshError: null, coalesced: false }, outcome };
  }
}

function fromElsewhere(entry: CacheEntry, previous: CacheEntry | undefined): Served {
  const status = previous?.kind === 'found' && previous.etag === entry.etag ? 'REVALIDATED' : 'MISS';
  return { entry, status, tier: null, refreshError: null, coalesced: true };
}

function sameCharge(a: Cause, b: Cause): boolean {
  return a.priority === 'consumer' && b.priority === 'consumer' && a.chargeTo === b.chargeTo;
}
