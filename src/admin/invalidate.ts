import type { Cluster } from 'ioredis';
import type { MemoryStore } from '../cache/memory-store.js';
import { globToRegExp, publishPurge } from '../coordination/invalidation.js';
import { isCluster } from '../redis/client.js';
import type { RedisGuard } from '../redis/guard.js';

/**
 * Drops the matching entries from Redis and from every instance's L1 (through the invalidation channel;
 * this instance's L1 directly too, in case Redis is away). Returns how many shared entries went: 0
 * without Redis, null when Redis could not be reached (only this instance's L1 was purged).
 */
export async function purge(patterns: string[], l1: MemoryStore, redis: RedisGuard | null): Promise<number | null> {
  l1.deleteMatching(patterns.map(globToRegExp));
  if (!redis) return 0;
  const deleted = await redis.run('purge', async (client) => {
    // SCAN walks one node's keyspace: in a Cluster, every master's. Keys are unlinked one by one there,
    // since one UNLINK may not span slots.
    const nodes = isCluster(client) ? (client as unknown as Cluster).nodes('master') : [client];
    let count = 0;
    for (const node of nodes) {
      for (const pattern of patterns) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
          cursor = next;
          for (const key of keys) count += await node.unlink(key);
        } while (cursor !== '0');
      }
    }
    await publishPurge(client, patterns);
    return count;
  });
  return deleted ?? null;
}
