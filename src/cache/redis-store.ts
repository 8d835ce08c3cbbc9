import type { Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import type { Logger } from '../observability/logger.js';
import { cacheEntry, type CacheEntry, type CacheStore } from './entry.js';

/**
 * L2: Redis, shared by every instance. It is a helper, never a dependency: every failure (down, slow,
 * corrupt value) is logged and answered as a miss or a skipped write, so the caller carries on with
 * L1 and upstream. Command timeouts and fail-fast while disconnected are set on the client (see redis.ts).
 */
export class RedisStore implements CacheStore {
  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async get(key: string): Promise<CacheEntry | undefined> {
    let raw: string | null;
    try {
      raw = await this.redis.get(key);
    } catch (err) {
      this.#failed('get', err);
      return undefined;
    }
    if (raw === null) return undefined;
    const parsed = cacheEntry.safeParse(safeJson(raw));
    if (!parsed.success) {
      this.logger.warn({ key }, 'redis: unreadable cache entry ignored');
      return undefined;
    }
    return parsed.data;
  }

  async set(key: string, entry: CacheEntry): Promise<void> {
    // Physical TTL = end of the stale window; logical freshness lives in the entry.
    const ttlMs = Math.ceil(entry.staleUntil - this.clock.now());
    if (ttlMs <= 0) return;
    try {
      await this.redis.set(key, JSON.stringify(entry), 'PX', ttlMs);
    } catch (err) {
      this.#failed('set', err);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.redis.del(key);
    } catch (err) {
      this.#failed('del', err);
    }
  }

  #failed(op: string, err: unknown): void {
    this.logger.debug({ op, err: (err as Error).message }, 'redis: command failed, continuing without L2');
  }
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}
