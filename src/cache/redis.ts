import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';

/**
 * An ioredis client that fails fast instead of queueing: while disconnected a command errors at once
 * (`enableOfflineQueue: false`), a slow server errors after `timeoutMs`, and reconnection goes on in the
 * background forever, so the service picks Redis up again by itself.
 */
export function createRedis(url: string, timeoutMs: number, logger: Logger): Redis {
  const redis = new Redis(url, {
    commandTimeout: timeoutMs,
    connectTimeout: Math.max(1000, timeoutMs * 5),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
    lazyConnect: false,
  });
  // Log changes of state, not every reconnect attempt's error.
  let up = false;
  redis.on('ready', () => {
    up = true;
    logger.info('redis: connected');
  });
  redis.on('error', (err) => {
    if (!up) return;
    up = false;
    logger.warn({ err: err.message }, 'redis: unavailable, serving from L1 and upstream until it returns');
  });
  redis.on('end', () => (up = false));
  return redis;
}
