import type { Redis } from 'ioredis';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../observability/logger.js';

export interface RedisGuardOptions {
  /** Consecutive failures after which Redis is skipped for `cooldownMs`. */
  failures: number;
  cooldownMs: number;
}

/**
 * The one way to Redis: every command goes through `run`, which answers `undefined` when Redis cannot
 * (down, slower than REDIS_TIMEOUT_MS, or skipped), counts the failure and logs it at debug, so each
 * caller just carries on without Redis. After `failures` failures in a row Redis is skipped for
 * `cooldownMs` (a breaker, as bentocache's remote cache has): a hanging Redis then costs nothing per
 * request instead of a timeout on each of a miss's commands. Reconnection is the client's (redis/client.ts).
 */
export class RedisGuard {
  #failuresInARow = 0;
  #skipUntil = 0;

  constructor(
    readonly client: Redis,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Told about each failed or skipped command, by operation, for `kbff_redis_errors_total`. */
    private readonly onError: (op: string) => void = () => {},
    private readonly opts: RedisGuardOptions = { failures: 5, cooldownMs: 2000 },
  ) {
    // A new connection is a fresh start: what failed on the old one says nothing of it.
    client.on('ready', () => {
      this.#skipUntil = 0;
      this.#failuresInARow = 0;
    });
  }

  /** The command's answer; `undefined` when Redis could not give one (ioredis commands never answer undefined). */
  async run<T>(op: string, command: (redis: Redis) => Promise<T>): Promise<T | undefined> {
    if (this.clock.now() < this.#skipUntil) {
      this.onError(op);
      return undefined;
    }
    try {
      const value = await command(this.client);
      this.#failuresInARow = 0;
      return value;
    } catch (err) {
      this.onError(op);
      this.logger.debug({ op, err: (err as Error).message }, 'redis: command failed, continuing without it');
      if (++this.#failuresInARow >= this.opts.failures) {
        this.#skipUntil = this.clock.now() + this.opts.cooldownMs;
        this.#failuresInARow = 0;
        this.logger.warn({ cooldownMs: this.opts.cooldownMs }, 'redis: repeated failures, skipping it for a while');
      }
      return undefined;
    }
  }

  /** `up` when connected and not being skipped; what `/readyz` reports. */
  get state(): 'up' | 'down' {
    return this.client.status === 'ready' && this.clock.now() >= this.#skipUntil ? 'up' : 'down';
  }
}
