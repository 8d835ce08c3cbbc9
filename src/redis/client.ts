import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisTopology } from '../config/config.js';
import type { Logger } from '../observability/logger.js';

/**
 * An ioredis client that fails fast instead of queueing: while disconnected a command errors at once
 * (`enableOfflineQueue: false`), a slow server errors after `timeoutMs`, and reconnection goes on in the
 * background forever, so the service picks Redis up again by itself.
 *
 * With Sentinel, the client asks the Sentinels for the current master and, after a failover, reconnects
 * to the new one (a write answered READONLY by a demoted master triggers that too). With Cluster, every
 * multi-key command and script uses keys sharing one `{…}` hash tag (see cache/keys.ts), so it stays in
 * one slot. A Cluster client is used through the same command interface as a single node.
 */
/** How long one connection attempt may take: also how long an instance waits for Redis before it listens. */
export function connectTimeoutMs(timeoutMs: number): number {
  return Math.max(1000, timeoutMs * 5);
}

export function createRedis(topology: RedisTopology, timeoutMs: number, logger: Logger): Redis {
  const options: RedisOptions = {
    commandTimeout: timeoutMs,
    connectTimeout: connectTimeoutMs(timeoutMs),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
  let redis: Redis;
  switch (topology.kind) {
    case 'single':
      redis = new Redis(topology.url, options);
      break;
    case 'sentinel':
      redis = new Redis({
        ...options,
        sentinels: topology.sentinels,
        name: topology.name,
        password: topology.password?.reveal(),
        sentinelRetryStrategy: (attempt) => Math.min(100 * attempt, 2000),
        // Listen for the Sentinels' +switch-master and move at once, not at the next failed write.
        failoverDetector: true,
      });
      break;
    case 'cluster':
      redis = new Cluster(topology.nodes, {
        enableOfflineQueue: false,
        clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 2000),
        redisOptions: { ...options, password: topology.password?.reveal() },
      }) as unknown as Redis;
      break;
  }
  // Log changes of state, not every reconnect attempt's error.
  let up = false;
  redis.on('ready', () => {
    up = true;
    logger.info({ topology: topology.kind }, 'redis: connected');
  });
  redis.on('error', (err: Error) => {
    if (!up) return;
    up = false;
    logger.warn({ err: err.message }, 'redis: unavailable, serving from L1 and upstream until it returns');
  });
  redis.on('end', () => (up = false));
  return redis;
}

/** True for a Cluster client, whose keyspace commands (SCAN) must go to every master. */
export function isCluster(redis: Redis): boolean {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true;
}

/**
 * Every key matching one of `patterns` (Redis globs). SCAN walks one node's keyspace: in a Cluster,
 * every master's.
 */
export async function scanKeys(redis: Redis, patterns: string[]): Promise<string[]> {
  const nodes = isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
  const keys = new Set<string>();
  for (const node of nodes) {
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        for (const key of found) keys.add(key);
      } while (cursor !== '0');
    }
  }
  return [...keys];
}
