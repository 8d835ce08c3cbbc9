import { LRUCache } from 'lru-cache';
import { shareKey } from '../cache/keys.js';
import { clockMinute, type Clock } from '../domain/clock.js';
import type { Logger } from '../observability/logger.js';
import { chargeLabel } from '../domain/cause.js';
import { REFUSED_FOR_SHARE, UpstreamError } from './errors.js';

/**
 * Each consumer's share of the token's per-minute budget: at most `limit()` upstream calls per clock
 * minute (Katapult's window, FACTS.md) caused by one consumer's requests, counted fleet-wide in Redis,
 * or, while Redis is away, in this instance alone up to its part (the share divided by the instances it
 * last knew). The fleet-wide count is the budget governor's script's, with the budget's (`claim`). What a
 * consumer's cache hits cost is nothing, so a consumer past its share is still served from the cache;
 * only its misses are refused.
 */
export class ConsumerShare {
  readonly #local = new LRUCache<string, { minute: number; used: number }>({ max: 100_000 });
  /** The minute (and limit) in which each consumer was last refused: spent for the rest of it. */
  readonly #spent = new LRUCache<string, string>({ max: 100_000 });
  /** The minute each consumer's refusal was last logged: one line per consumer per minute at most. */
  readonly #logged = new LRUCache<string, number>({ max: 10_000 });

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Calls per clock minute one consumer may cause (read on each call: it may follow the budget). */
    readonly limit: () => number,
    /** Told about each refusal, with the consumer's bounded label. */
    private readonly onRefused: (label: string) => void = () => {},
    /** The instances sharing the token, as last known: while Redis is away each counts only its part. */
    private readonly fleetSize: () => number = () => 1,
  ) {}

  /**
   * A claim on one call of `chargeTo`'s share this minute, which the budget governor checks and counts in
   * the same script as the budget. Throws `share_exhausted` at once when the share is known to be spent.
   */
  claim(chargeTo: string): ShareClaim {
    const minute = clockMinute(this.clock.now());
    const limit = this.limit();
    // A share only fills up within its minute: once spent, the rest of the minute is refused here, with
    // no Redis round trip (a list past its share would otherwise ask once per missing detail).
    if (this.#spent.get(chargeTo) === `${minute}/${limit}`) this.#refuse(chargeTo, minute, limit);
    return {
      key: shareKey(chargeTo, minute),
      limit,
      takeLocally: () => {
        // This instance's part of the share, as of the budget (`governor.ts`): never the whole share each.
        const part = Math.floor(limit / Math.max(1, this.fleetSize()));
        const local = this.#local.get(chargeTo);
        const counter = local && local.minute === minute ? local : { minute, used: 0 };
        if (counter.used >= part) this.#refuse(chargeTo, minute, limit);
        counter.used++;
        this.#local.set(chargeTo, counter);
      },
      refuse: () => this.#refuse(chargeTo, minute, limit),
    };
  }

  #refuse(chargeTo: string, minute: number, limit: number): never {
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

/** One call of a consumer's share, claimed: the governor counts it with the budget (`governor.ts`). */
export interface ShareClaim {
  /** The consumer's Redis counter for this minute, under the budget's hash tag. */
  key: string;
  /** Calls the consumer may cause this minute, fleet-wide. */
  limit: number;
  /** Redis could not answer: counts the call in this instance alone; throws `share_exhausted` past its part. */
  takeLocally(): void;
  /** Redis said the share is spent: throws `share_exhausted`. */
  refuse(): never;
}
