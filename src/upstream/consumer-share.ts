import type { Result } from 'ioredis';
import type { RedisGuard } from '../redis/guard.js';
import { LRUCache } from 'lru-cache';
import { shareKey } from '../cache/keys.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../observability/logger.js';
import { chargeLabel } from '../domain/cause.js';
import { REFUSED_FOR_SHARE, UpstreamError } from './errors.js';

/**
 * Counts one upstream call against a consumer's share of this clock minute, unless the share is spent.
 * KEYS[1] the consumer's counter for this minute. ARGV: limit, counter ttl ms. Answers the count, or -1 when spent.
 */
const TAKE = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then return -1 end
used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return used
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    kbffShare(counter: string, limit: number, ttlMs: number): Result<number, Context>;
  }
}

const MINUTE_MS = 60_000;

/**
 * Each consumer's share of the token's per-minute budget: at most `limit()` upstream calls per clock
 * minute (Katapult's window, FACTS.md) caused by one consumer's requests, counted fleet-wide in Redis,
 * or, while Redis is away, in this instance alone up to its part (the share divided by the instances it
 * last knew). What a consumer's cache hits cost is nothing, so a
 * consumer past its share is still served from the cache; only its misses are refused.
 */
export class ConsumerShare {
  readonly #local = new LRUCache<string, { minute: number; used: number }>({ max: 100_000 });
  /** The minute (and limit) in which each consumer was last refused: spent for the rest of it. */
  readonly #spent = new LRUCache<string, string>({ max: 100_000 });
  /** The minute each consumer's refusal was last logged: one line per consumer per minute at most. */
  readonly #logged = new LRUCache<string, number>({ max: 10_000 });

  constructor(
    private readonly redis: RedisGuard | null,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Calls per clock minute one consumer may cause (read on each call: it may follow the budget). */
    readonly limit: () => number,
    /** Told about each refusal, with the consumer's bounded label. */
    private readonly onRefused: (label: string) => void = () => {},
    /** The instances sharing the token, as last known: while Redis is away each counts only its part. */
    private readonly fleetSize: () => number = () => 1,
  ) {
    redis?.client.defineCommand('kbffShare', { numberOfKeys: 1, lua: TAKE });
  }

  /** Counts one call for `chargeTo`; throws `share_exhausted` (and counts nothing) past the share. */
  async take(chargeTo: string): Promise<void> {
    const now = this.clock.now();
    const minute = Math.floor(now / MINUTE_MS);
    const limit = this.limit();
    // A share only fills up within its minute: once spent, the rest of the minute is refused here, with
    // no Redis round trip (a list past its share would otherwise ask once per missing detail).
    let used = this.#spent.get(chargeTo) === `${minute}/${limit}` ? -1 : undefined;
    // Undefined when Redis is away: count in this instance alone until it is back.
    used ??= await this.redis?.run('share', (r) => r.kbffShare(shareKey(chargeTo, minute), limit, 2 * MINUTE_MS));
    if (used === undefined) {
      // This instance's part of the share, as of the budget (`governor.ts`): never the whole share each.
      const part = Math.floor(limit / Math.max(1, this.fleetSize()));
      const local = this.#local.get(chargeTo);
      const counter = local && local.minute === minute ? local : { minute, used: 0 };
      used = counter.used >= part ? -1 : ++counter.used;
      this.#local.set(chargeTo, counter);
    }
    if (used >= 0) return;
    this.#spent.set(chargeTo, `${minute}/${limit}`);
    const label = chargeLabel(chargeTo);
    this.onRefused(label);
    if (this.#logged.get(chargeTo) !== minute) {
      this.#logged.set(chargeTo, minute);
      this.logger.warn({ consumer: chargeTo, limit }, 'consumer share of the upstream budget used: its misses are refused until the next minute');
    }
    throw new UpstreamError('share_exhausted', `this consumer's share of upstream calls (${limit} a minute) is used`, null, REFUSED_FOR_SHARE);
  }
}
