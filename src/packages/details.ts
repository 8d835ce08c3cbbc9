import { LRUCache } from 'lru-cache';
import type { CacheEngine, Loader } from '../cache/engine.js';
import { strongEtag, WeakMemo, type CacheEntry, type FoundEntry } from '../cache/entry.js';
import { FairQueue } from '../cache/fair-queue.js';
import { firstToExpire, isFresh, stateOf } from '../cache/timeline.js';
import { chargedTo, UPKEEP, type ConsumerCause } from '../domain/cause.js';
import type { Clock } from '../domain/clock.js';
import type { OrgScope } from '../domain/scope.js';
import { detailKey, detailScope, listKey } from './keys.js';
import { packageOf, packagesOf, type PackageService } from './service.js';

/** A list answer with every field: the list's membership and order, each package filled from its detail. */
export interface ComposedList {
  /** The composed representation, with the list entry's times (its freshness is the list's). */
  entry: FoundEntry;
  /** Details known when it was composed, of `total` packages. */
  known: number;
  total: number;
  /** The detail it used that stops being fresh first: complete and current while it is fresh. */
  earliest: FoundEntry | undefined;
}

/** `X-Packages-Detail: known/total`: how complete a list answer is (the fast path and the router send it alike). */
export function detailHeader(composed: ComposedList): Record<string, string> {
  return { 'x-packages-detail': `${composed.known}/${composed.total}` };
}

/** The fields Katapult's list does not send (FACTS.md), filled from the get. */
const DETAIL_FIELDS = ['monthlyBandwidthGb', 'dedicatedCpus', 'group'] as const;

/** How long an expired detail whose upkeep was attempted is left alone before the next attempt. */
const UPKEEP_RETRY_MS = 30_000;

/** A package's detail as a list needs it: where it is kept, what loads it, and what is held of it. */
interface Detail {
  key: string;
  load: Loader;
  /** The upkeep lane: the detail's scope, so one scope's backlog takes one turn per round. */
  lane: string;
  held: FoundEntry | undefined;
}

/**
 * A composition with the details it was made from: current while each is the entry the tiers hold for
 * its key (checked again only when L1 has changed since `checkedAt`, one of the engine's `changes`).
 */
interface Composition {
  checkedAt: number;
  composed: ComposedList;
  details: Detail[];
}

export interface ListDetailsOptions {
  /** Detail fetches nobody waits for, in flight at once per instance. */
  concurrency: number;
  /** Detail fetches waiting at once per instance; past it a fetch is left to the next request that needs it. */
  queueLength: number;
}

/**
 * Completes lists with the fields only a package's get carries. A package's detail is the same cache
 * entry `GET /packages/{ref}` uses (`detailKey`: under its id, a public package's in the public scope,
 * shared by every list), so it is fetched once per freshness window fleet-wide however many lists and
 * refs name it. Every fetch has a cause:
 * - a detail not held at all is fetched for the consumer whose list needs it, charged to its share like
 *   any miss (the cost of its request), in the background, or at once for `?complete=true`; past its
 *   share it is not fetched, and the next consumer with share left that asks for the list fetches it;
 * - a detail held but expired is kept fresh by the service itself (`upkeep`: charged to nobody, within
 *   the governor's upkeep share, never during a 429 block), round robin by scope.
 * Fetches nobody waits for run a few at a time, in a bounded queue. A composition is kept while its own
 * details are the ones held (none stored anew here, none dropped because it changed on another
 * instance), so a changed detail reaches every instance's list answer and its ETag, and a write of any
 * other key leaves it be.
 */
export class ListDetails {
  /** Each list's composition; the last one asked for is at hand (the cache-hit path asks for one list many times in a row). */
  readonly #composed = new WeakMemo<FoundEntry, Composition>();
  /** Expired details whose upkeep was attempted lately (key → when). */
  readonly #attempted = new LRUCache<string, number>({ max: 100_000 });
  readonly #queue: FairQueue;

  constructor(
    private readonly engine: CacheEngine,
    private readonly packages: PackageService,
    private readonly clock: Clock,
    opts: ListDetailsOptions = { concurrency: 4, queueLength: 10_000 },
  ) {
    this.#queue = new FairQueue(opts.concurrency, opts.queueLength);
  }

  /** The composition of `list`, while the details it was made from are the ones held (what the cache-hit path serves). */
  cached(list: FoundEntry): ComposedList | undefined {
    return this.#current(list)?.composed;
  }

  /**
   * `list` of `scope` with every detail held (L1 or L2). The details not held are fetched for `cause`:
   * in the background, or, with `waitMs`, at once while the caller waits that long at most (then what is
   * known by then). Expired ones are kept fresh as upkeep.
   */
  async compose(list: FoundEntry, scope: OrgScope, cause: ConsumerCause, waitMs = 0): Promise<ComposedList> {
    const composition = this.#current(list) ?? (await this.#compose(list, scope));
    this.#keepFresh(composition);
    const missing = composition.details.filter((d) => !d.held);
    if (!missing.length) return composition.composed;
    if (waitMs <= 0) {
      // Nobody waits: the consumer's deadline is not these fetches'; each gets its own.
      const forConsumer = chargedTo(cause.chargeTo);
      for (const d of missing) this.#queue.add(`charge:${cause.chargeTo}`, d.key, () => this.engine.fetchIfDue(d.key, d.load, forConsumer));
      return composition.composed;
    }
    const fetches = Promise.allSettled(missing.map((d) => this.engine.lookup(d.key, d.load, cause)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([fetches, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    return (await this.#compose(list, scope)).composed;
  }

  /** Resolves once every detail fetch queued or running by now has finished. */
  settle(): Promise<void> {
    return this.#queue.settle();
  }

  #current(list: FoundEntry): Composition | undefined {
    const held = this.#composed.get(list);
    if (!held) return undefined;
    const changes = this.engine.changes;
    if (held.checkedAt === changes) return held;
    // L1 changed somewhere: still current if every detail it was made from is the one held.
    if (!held.details.every((d) => found(this.engine.peek(d.key)) === d.held)) return undefined;
    held.checkedAt = changes;
    return held;
  }

  async #compose(list: FoundEntry, scope: OrgScope): Promise<Composition> {
    const items = packagesOf(list);
    // L1 first; else Redis, which another instance may have filled (and which refills L1): all at once.
    const held = await this.engine.heldMany(items.map((p) => detailKey(p, scope)));
    const details = items.map((p, i): Detail => {
      const owner = detailScope(p, scope);
      return { key: detailKey(p, scope), load: this.packages.detailLoader(p.id, owner), lane: listKey(owner), held: found(held[i]) };
    });
    let known = 0;
    let earliest: FoundEntry | undefined;
    const packages = items.map((p, i) => {
      const held = details[i]!.held;
      if (!held) return p;
      known++;
      earliest = firstToExpire(held, earliest);
      // The list gives membership and its own fields; the detail fills what the list does not send.
      const detail = packageOf(held);
      const filled = { ...p };
      for (const field of DETAIL_FIELDS) if (filled[field] === null) (filled as Record<string, unknown>)[field] = detail[field];
      return filled;
    });
    const body = JSON.stringify({ packages });
    const composed: ComposedList = { entry: { ...list, body, etag: strongEtag(body) }, known, total: items.length, earliest };
    const composition = { checkedAt: this.engine.changes, composed, details };
    this.#composed.set(list, composition);
    return composition;
  }

  /** Queues the upkeep of the held details past their freshness, as the service's own work. */
  #keepFresh({ composed, details }: Composition): void {
    const now = this.clock.now();
    if (!composed.earliest || isFresh(stateOf(composed.earliest, now))) return;
    for (const d of details) {
      if (!d.held || isFresh(stateOf(d.held, now)) || this.#queue.has(d.key)) continue;
      const tried = this.#attempted.get(d.key);
      if (tried !== undefined && now - tried < UPKEEP_RETRY_MS) continue;
      this.#attempted.set(d.key, now);
      this.#queue.add(d.lane, d.key, () => this.engine.fetchIfDue(d.key, d.load, UPKEEP));
    }
  }
}

function found(entry: CacheEntry | undefined): FoundEntry | undefined {
  return entry?.kind === 'found' ? entry : undefined;
}
