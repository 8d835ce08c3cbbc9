import type { Cluster, Redis } from 'ioredis';
import { isCluster } from '../redis/client.js';
import type { MemoryStore } from '../cache/memory-store.js';
import { globToRegExp, publishPurge } from '../coordination/invalidation.js';

/**
 * Drops the matching entries from Redis and from every instance's L1 (through the invalidation channel;
 * this instance's L1 directly too, in case Redis is away). Returns how many shared entries went.
 */
export async function purge(patterns: string[], l1: MemoryStore, redis: Redis | null): Promise<number> {
  l1.deleteMatching(patterns.map(globToRegExp));
  if (!redis) return 0;
  // SCAN walks one node's keyspace: in a Cluster, every master's. Keys are unlinked one by one there,
  // since one UNLINK may not span slots.
  const nodes = isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
  let deleted = 0;
  for (const node of nodes) {
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        for (const key of keys) deleted += await node.unlink(key);
      } while (cursor !== '0');
    }
  }
  await publishPurge(redis, patterns);
  return deleted;
}
