import type { Cluster, Redis } from 'ioredis';
import { isCluster } from '../redis/client.js';
import { z } from 'zod';
import type { MemoryStore } from '../cache/memory-store.js';
import type { LockWakeups } from '../cache/refresh-lock.js';
import { INVALIDATION_CHANNEL } from '../cache/keys.js';
import type { Logger } from '../observability/logger.js';

/**
 * Messages on the invalidation channel. `changed` comes from the write script when an entry's ETag
 * changed; `settled` when a refresh lock was let go without a change (`cache/refresh-lock.ts`); `purge`
 * from the admin endpoint, with the key patterns (`*` wildcards) to drop.
 */
const message = z.discriminatedUnion('op', [
  z.object({ op: z.literal('changed'), key: z.string(), etag: z.string() }),
  z.object({ op: z.literal('settled'), key: z.string() }),
  z.object({ op: z.literal('purge'), patterns: z.array(z.string()) }),
]);
export type InvalidationMessage = z.infer<typeof message>;

/**
 * Keeps this instance's L1 in step with the fleet: an entry whose representation changed elsewhere is
 * dropped here (unless L1 already holds the new one), so no instance serves the old body once the new
 * one is known. It also wakes this instance's lock waiters when the key they wait on is settled.
 * Subscribes on its own connection; ioredis re-subscribes after a reconnect.
 */
export class InvalidationListener implements LockWakeups {
  readonly #subscriber: Redis;
  /** Who waits for the next message to be applied. */
  #waiting: Array<(applied: InvalidationMessage) => void> = [];
  /** Lock waiters, by the key they wait on. */
  readonly #sleepers = new Map<string, Set<() => void>>();

  constructor(redis: Redis, private readonly l1: MemoryStore, private readonly logger: Logger) {
    // A subscriber connection only subscribes: it may queue while connecting.
    this.#subscriber = isCluster(redis)
      ? ((redis as unknown as Cluster).duplicate([], { enableOfflineQueue: true }) as unknown as Redis)
      : redis.duplicate({ enableOfflineQueue: true, commandTimeout: undefined });
    this.#subscriber.on('error', () => undefined); // the main connection already reports Redis outages
    this.#subscriber.on('message', (_channel: string, raw: string) => this.apply(raw));
    void this.#subscriber.subscribe(INVALIDATION_CHANNEL).catch((err: Error) => logger.warn({ err: err.message }, 'redis: cannot subscribe to invalidations'));
  }

  apply(raw: string): void {
    let parsed: InvalidationMessage;
    try {
      parsed = message.parse(JSON.parse(raw));
    } catch {
      this.logger.warn('ignored a malformed invalidation message');
      return;
    }
    if (parsed.op !== 'purge') for (const wake of this.#sleepers.get(parsed.key) ?? []) wake();
    // A settled lock changes nothing in L1: only its waiters care.
    if (parsed.op === 'settled') return;
    if (parsed.op === 'changed') {
      if (this.l1.peek(parsed.key)?.etag !== parsed.etag) void this.l1.delete(parsed.key);
    } else {
      const dropped = this.l1.deleteMatching(parsed.patterns);
      this.logger.info({ patterns: parsed.patterns, dropped }, 'cache purged');
    }
    for (const resolve of this.#waiting.splice(0)) resolve(parsed);
  }

  next(key: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let sleepers = this.#sleepers.get(key);
      if (!sleepers) this.#sleepers.set(key, (sleepers = new Set()));
      const wake = () => {
        clearTimeout(timer);
        sleepers.delete(wake);
        if (sleepers.size === 0 && this.#sleepers.get(key) === sleepers) this.#sleepers.delete(key);
        resolve();
      };
      // A real timer: it stands in for a message that Redis' real time (a lapsed lease) never sends.
      const timer = setTimeout(wake, ms);
      timer.unref();
      sleepers.add(wake);
    });
  }

  /** Resolves with the next invalidation (`changed` or `purge`) once it has been applied to this instance's L1. */
  applied(): Promise<InvalidationMessage> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /**
   * Says goodbye to Redis, for at most `graceMs`: the subscriber connection has no command timeout (it
   * waits for messages), so a hanging Redis would otherwise hold shutdown forever.
   */
  async close(graceMs = 1000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([this.#subscriber.quit().catch(() => undefined), bound]);
    clearTimeout(timer);
    this.#subscriber.disconnect();
  }
}

export async function publishPurge(redis: Redis, patterns: string[]): Promise<void> {
  await redis.publish(INVALIDATION_CHANNEL, JSON.stringify({ op: 'purge', patterns } satisfies InvalidationMessage));
}
