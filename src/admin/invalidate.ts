import type { MemoryStore } from '../cache/memory-store.js';
import { publishPurge } from '../coordination/invalidation.js';
import { scanKeys } from '../redis/client.js';
import type { RedisGuard } from '../redis/guard.js';

/**
 * Drops the matching entries from Redis and from every instance's L1 (through the invalidation channel;
 * this instance's L1 directly too, in case Redis is away). Returns how many shared entries went: 0
 * without Redis, null when Redis could not be reached (only this instance's L1 was purged).
 */
export async function purge(patterns: string[], l1: MemoryStore, redis: RedisGuard | null): Promise<number | null> {
  l1.deleteMatching(patterns);
  if (!redis) return 0;
  const deleted = await redis.run('purge', async (client) => {
    let count = 0;
    // One by one: in a Cluster one UNLINK may not span slots.
    for (const key of await scanKeys(client, patterns)) count += await client.unlink(key);
    await publishPurge(client, patterns);
    return count;
  });
  return deleted ?? null;
}
