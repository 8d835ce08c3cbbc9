import type { Clock } from '../domain/clock.js';
import type { CacheEntry, SharedStore, Tier, WriteOutcome } from './entry.js';
import { isFresh, stateOf } from './timeline.js';
import type { MemoryStore } from './memory-store.js';

/** L1 in front of an optional L2. A hit in L2 refills L1; writes go to both. */
export class TieredStore {
  constructor(
    readonly l1: MemoryStore,
    readonly l2: SharedStore | null,
    private readonly clock: Clock,
  ) {}

  /**
   * A fresh L1 entry is answered at once. Otherwise L2 is asked too, since another instance may have
   * refreshed the key since this one cached it; the fresher of the two wins and refills L1.
   */
  async get(key: string): Promise<{ entry: CacheEntry; tier: Tier } | undefined> {
    const local = this.l1.peek(key);
    if (local && isFresh(stateOf(local, this.clock.now()))) return { entry: local, tier: 'l1' };
    const shared = await this.l2?.get(key);
    if (shared && (!local || shared.storedAt > local.storedAt) && stateOf(shared, this.clock.now()) !== 'gone') {
      await this.l1.set(key, shared);
      return { entry: shared, tier: 'l2' };
    }
    return local ? { entry: local, tier: 'l1' } : undefined;
  }

  /** The entries under every key matching one of `patterns` (globs), in either tier: for an admin's purge. */
  async matching(patterns: string[]): Promise<CacheEntry[]> {
    return [...(await this.l1.matching(patterns)), ...((await this.l2?.matching(patterns)) ?? [])];
  }

  /** Puts an entry another instance stored into L1 (it is in L2 already). */
  async fill(key: string, entry: CacheEntry): Promise<void> {
    await this.l1.set(key, entry);
  }

  /** Writes both tiers; `fence` is the lock holder's fencing number (0 when it holds none). */
  async set(key: string, entry: CacheEntry, fence = 0): Promise<WriteOutcome> {
    const outcome = this.l2 ? await this.l2.write(key, entry, fence) : 'written';
    // A fenced-off write lost to a newer holder: keep the newer entry's place in L1 free for it.
    if (outcome === 'fenced') await this.l1.delete(key);
    else await this.l1.set(key, entry);
    return outcome;
  }
}
