import type { CacheEntry, CacheStore } from './entry.js';
import type { MemoryStore } from './memory-store.js';

export type Tier = 'l1' | 'l2';

/** L1 in front of an optional L2. A hit in L2 refills L1; writes go to both. */
export class TieredStore {
  constructor(
    readonly l1: MemoryStore,
    readonly l2: CacheStore | null,
  ) {}

  async get(key: string): Promise<{ entry: CacheEntry; tier: Tier } | undefined> {
    const local = this.l1.peek(key);
    if (local) return { entry: local, tier: 'l1' };
    const shared = await this.l2?.get(key);
    if (!shared) return undefined;
    await this.l1.set(key, shared);
    // L1 may drop it at once if it is already past its stale window.
    return this.l1.peek(key) ? { entry: shared, tier: 'l2' } : undefined;
  }

  async set(key: string, entry: CacheEntry): Promise<void> {
    await this.l1.set(key, entry);
    await this.l2?.set(key, entry);
  }

  async delete(key: string): Promise<void> {
    await this.l1.delete(key);
    await this.l2?.delete(key);
  }
}
