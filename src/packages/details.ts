import { LRUCache } from 'lru-cache';
import type { CacheEngine } from '../cache/engine.js';
import { strongEtag, type CacheEntry, type FoundEntry } from '../cache/entry.js';
import type { TieredStore } from '../cache/tiered-store.js';
import type { Cause } from '../domain/cause.js';
import type { Clock } from '../domain/clock.js';
import { PUBLIC, type OrgScope } from '../domain/scope.js';
import { packageKey } from './keys.js';
import type { Package } from './model.js';
import { packageOf, packagesOf, type PackageService } from './service.js';

/** A list answer with every field: the list's membership and order, each package filled from its detail. */
export interface ComposedList {
  /** The composed representation, with the list entry's times (its freshness is the list's). */
  entry: FoundEntry;
  /** Details known when it was composed, of `total` packages. */
  known: number;
  total: number;
  /** When the first detail it used stops being fresh: complete and current until then. */
  detailsFreshUntil: number;
}

/** `X-Packages-Detail: known/total`: how complete a list answer is (the fast path and the router send it alike). */
export function detailHeader(composed: ComposedList): Record<string, string> {
  return { 'x-packages-detail': `${composed.known}/${composed.total}` };
}

/** The fields Katapult's list does not send (FACTS.md), filled from the get. */
const DETAIL_FIELDS = ['monthlyBandwidthGb', 'dedicatedCpus', 'group'] as const;

/** How long a detail that could not be fetched is left alone before the next background attempt. */
const RETRY_AFTER_MS = 30_000;

/**
 * Completes lists with the fields only a package's get carries. A package's detail is the same cache
 * entry `GET /packages/{id}` uses, in the package's scope (public packages' in the public scope, shared
 * by every list), so it is fetched once per freshness window fleet-wide however many lists hold it.
 *
 * Details missing or expired are fetched by the service itself: background priority (the governor's
 * background share, never during a 429 block), through the engine (one fetch per key fleet-wide,
 * revalidated with `If-None-Match`), a few at a time. A composition is kept until L1 changes (a detail
 * stored here, or dropped because it changed on another instance), so a changed detail reaches every
 * instance's list answer and its ETag.
 */
export class ListDetails {
  readonly #composed = new WeakMap<FoundEntry, { version: number; composed: ComposedList }>();
  /** Details whose background fetch was attempted lately (key → when). */
  readonly #attempted = new LRUCache<string, number>({ max: 100_000 });
  #running = 0;
  readonly #queue: Array<() => void> = [];
  /** Background fetches started or queued and not finished. */
  readonly #pending = new Set<Promise<void>>();

  constructor(
    private readonly engine: CacheEngine,
    private readonly store: TieredStore,
    private readonly packages: PackageService,
    private readonly clock: Clock,
    /** Background detail fetches in flight at once, per instance. */
    private readonly concurrency = 4,
  ) {}

  /** The composition of `list`, if nothing in L1 changed since it was made (what the cache-hit path serves). */
  cached(list: FoundEntry): ComposedList | undefined {
    const held = this.#composed.get(list);
    return held && held.version === this.store.l1.version ? held.composed : undefined;
  }

  /** `list` of `scope` with every detail held (L1 or L2); the missing and expired ones are fetched in the background. */
  async compose(list: FoundEntry, scope: OrgScope): Promise<ComposedList> {
    const composed = this.cached(list) ?? (await this.#compose(list, scope));
    if (composed.known < composed.total || this.clock.now() >= composed.detailsFreshUntil) this.#fetchInBackground(list, scope);
    return composed;
  }

  /**
   * `list` with the details that were missing fetched first, at the consumer's priority and charge
   * (each like a consumer-driven miss), waiting at most `boundMs`; then what is known by then.
   */
  async complete(list: FoundEntry, scope: OrgScope, cause: Cause, boundMs: number): Promise<ComposedList> {
    const first = await this.compose(list, scope);
    if (first.known === first.total) return first;
    const missing = packagesOf(list).filter((p) => !this.#detailIn(this.store.l1.peek(this.#key(p, scope))));
    const fetches = Promise.allSettled(missing.map((p) => this.packages.get({ by: 'id', value: p.id }, this.#scopeOf(p, scope), cause)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([fetches, new Promise((resolve) => (timer = setTimeout(resolve, boundMs)))]);
    clearTimeout(timer);
    return this.#compose(list, scope);
  }

  async #compose(list: FoundEntry, scope: OrgScope): Promise<ComposedList> {
    const items = packagesOf(list);
    let known = 0;
    let detailsFreshUntil = Infinity;
    const packages: Package[] = [];
    for (const p of items) {
      const key = this.#key(p, scope);
      // L1 first; else L2, which another instance may have filled (and which refills L1).
      const held = this.store.l1.peek(key) ?? (await this.store.get(key))?.entry;
      const detail = this.#detailIn(held);
      if (!detail) {
        packages.push(p);
        continue;
      }
      known++;
      detailsFreshUntil = Math.min(detailsFreshUntil, held!.freshUntil);
      // The list gives membership and its own fields; the detail fills what the list does not send.
      const filled = { ...p };
      for (const field of DETAIL_FIELDS) if (filled[field] === null) (filled as Record<string, unknown>)[field] = detail[field];
      packages.push(filled);
    }
    const body = JSON.stringify({ packages });
    const composed: ComposedList = { entry: { ...list, body, etag: strongEtag(body) }, known, total: items.length, detailsFreshUntil };
    this.#composed.set(list, { version: this.store.l1.version, composed });
    return composed;
  }

  /** Fetches the list's missing or expired details as the service's own work, a few at a time. */
  #fetchInBackground(list: FoundEntry, scope: OrgScope): void {
    const now = this.clock.now();
    for (const p of packagesOf(list)) {
      const key = this.#key(p, scope);
      const held = this.store.l1.peek(key);
      if (held && now < held.freshUntil) continue;
      const tried = this.#attempted.get(key);
      if (tried !== undefined && now - tried < RETRY_AFTER_MS) continue;
      this.#attempted.set(key, now);
      const load = this.packages.detailLoader({ by: 'id', value: p.id }, this.#scopeOf(p, scope));
      const task = this.#bounded(() => this.engine.fetchInBackground(key, load, held)).finally(() => this.#pending.delete(task));
      this.#pending.add(task);
    }
  }

  /** Resolves once every background fetch started or queued by now has finished. */
  async settle(): Promise<void> {
    while (this.#pending.size) await Promise.allSettled([...this.#pending]);
  }

  async #bounded(task: () => Promise<void>): Promise<void> {
    if (this.#running >= this.concurrency) await new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#running++;
    try {
      await task();
    } finally {
      this.#running--;
      this.#queue.shift()?.();
    }
  }

  /** A public package's detail is the public scope's, shared by every list; a private one is its organization's. */
  #scopeOf(p: Package, scope: OrgScope): OrgScope {
    return p.privacy === 'public' ? PUBLIC : scope;
  }

  #key(p: Package, scope: OrgScope): string {
    return packageKey({ by: 'id', value: p.id }, this.#scopeOf(p, scope));
  }

  #detailIn(entry: CacheEntry | undefined): Package | undefined {
    return entry?.kind === 'found' ? packageOf(entry) : undefined;
  }
}
