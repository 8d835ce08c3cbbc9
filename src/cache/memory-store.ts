import { LRUCache } from 'lru-cache';
import type { Clock } from '../domain/clock.js';
import type { CacheEntry, CacheStore, FoundEntry } from './entry.js';
import { stateOf } from './timeline.js';
import { globToRegExp } from './keys.js';

/** Per-entry bookkeeping on top of the body and key, so small entries are not counted as free. */
const ENTRY_OVERHEAD_BYTES = 256;

/** A compressed representation, kept beside the entries under the same bound. */
interface Encoded {
  kind: 'encoded';
  bytes: Buffer;
}
type Held = CacheEntry | Encoded;

/**
 * Keys of compressed representations: by coding and the identity ETag (a hash of the bytes), so they need
 * no invalidation (a changed entry has another ETag), and no glob of entry keys (`kbff:…`) names them.
 */
const encodedKey = (coding: string, etag: string) => `\u0000${coding} ${etag}`;

/**
 * L1: in-process, bounded in bytes (UTF-16 length of the body, a fair upper bound of its heap size; the
 * length of compressed bytes). Expiry is logical, on the injected clock: an entry past `staleUntil` is
 * dropped when read. Compressed representations share the bound and the recency order with the entries.
 */
export class MemoryStore implements CacheStore {
  readonly #lru: LRUCache<string, Held>;
  #encodedCount = 0;
  #encodedEtag = '';
  #encodedCoding = '';
  #encodedKey = '';
  /**
   * Answers derived from entries (a shaped list: filtered, sorted, trimmed), in a quarter of the byte
   * bound of their own: however many shapes consumers ask for, they never push real entries out.
   */
  readonly #derived: LRUCache<string, FoundEntry>;
  readonly #clock: Clock;
  /** Moves on whenever an entry is stored or dropped: what was derived from L1 at one version is current while it holds. */
  version = 0;

  constructor(maxBytes: number, clock: Clock) {
    this.#clock = clock;
    this.#lru = new LRUCache({
      maxSize: maxBytes,
      sizeCalculation: (held, key) =>
        (held.kind === 'found' ? held.body.length * 2 : held.kind === 'encoded' ? held.bytes.length : 0) + key.length * 2 + ENTRY_OVERHEAD_BYTES,
      dispose: (held) => {
        if (held.kind === 'encoded') this.#encodedCount--;
        // Evictions too: a derived answer must not outlive an entry it was built from.
        else this.version++;
      },
    });
    this.#derived = new LRUCache({
      maxSize: Math.max(1, Math.floor(maxBytes / 4)),
      sizeCalculation: (entry, key) => entry.body.length * 2 + key.length * 2 + ENTRY_OVERHEAD_BYTES,
    });
  }

  /** Synchronous read, for the hit path; `now` is a reading of this store's clock the caller already has. */
  peek(key: string, now = this.#clock.now()): CacheEntry | undefined {
    return this.#servable(this.#lru, key, now);
  }

  /** The `coding` bytes of the representation tagged `etag`: kept from an earlier request, or made now and kept. */
  encoded(etag: string, coding: string, make: () => Buffer): Buffer {
    // The last key at hand: the hit path asks for one answer's bytes many times in a row, and a key made
    // anew each time would be hashed anew each time.
    if (etag !== this.#encodedEtag || coding !== this.#encodedCoding) {
      this.#encodedEtag = etag;
      this.#encodedCoding = coding;
      this.#encodedKey = encodedKey(coding, etag);
    }
    const key = this.#encodedKey;
    const held = this.#lru.get(key);
    if (held?.kind === 'encoded') return held.bytes;
    const bytes = make();
    this.#lru.set(key, { kind: 'encoded', bytes });
    if (this.#lru.has(key)) this.#encodedCount++;
    return bytes;
  }

  /** A derived answer kept under `key`, while its source's stale window lasts. */
  derived(key: string): FoundEntry | undefined {
    return this.#servable(this.#derived, key, this.#clock.now());
  }

  /** The entry under `key` while it is servable; one past its stale window is dropped as it is read. */
  #servable<E extends CacheEntry>(lru: { get(key: string): E | Encoded | undefined; delete(key: string): boolean }, key: string, now: number): E | undefined {
    const entry = lru.get(key);
    if (entry === undefined || entry.kind === 'encoded') return undefined;
    if (stateOf(entry, now) === 'gone') {
      lru.delete(key);
      return undefined;
    }
    return entry;
  }

  keepDerived(key: string, entry: FoundEntry): void {
    this.#derived.set(key, entry);
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    return this.peek(key);
  }

  async set(key: string, entry: CacheEntry): Promise<void> {
    this.#lru.set(key, entry);
    this.version++;
  }

  async delete(key: string): Promise<void> {
    this.#lru.delete(key);
  }

  async matching(patterns: string[]): Promise<CacheEntry[]> {
    const match = patterns.map(globToRegExp);
    return [...this.#lru.keys()].filter((key) => match.some((p) => p.test(key))).flatMap((key) => this.peek(key) ?? []);
  }

  /** Drops every entry whose key matches one of `patterns` (globs with `*`); returns how many went. */
  deleteMatching(patterns: string[]): number {
    const match = patterns.map(globToRegExp);
    let n = 0;
    for (const [key, held] of [...this.#lru.entries()]) {
      if (held.kind !== 'encoded' && match.some((p) => p.test(key))) n += Number(this.#lru.delete(key));
    }
    return n;
  }

  get size(): { entries: number; bytes: number } {
    // Compressed representations are bytes of the entries, not entries of their own.
    return { entries: this.#lru.size - this.#encodedCount + this.#derived.size, bytes: this.#lru.calculatedSize + this.#derived.calculatedSize };
  }
}
