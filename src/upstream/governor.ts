import type { Result } from 'ioredis';
import type { RedisGuard } from '../redis/guard.js';
import { BUDGET_KEY } from '../cache/keys.js';
import { clockMinute, MINUTE_MS, nextMinuteAt, type Clock } from '../domain/clock.js';
import type { Priority } from '../domain/cause.js';
import type { ShareClaim } from './consumer-share.js';
import type { Logger } from '../observability/logger.js';
import { REFUSED_BY_GOVERNOR, UpstreamError } from './errors.js';
import type { RateLimit } from './rate-limit.js';


/**
 * Counts this minute's upstream calls and lets one through only while the budget allows it, and the
 * share of the consumer that causes it (when one is claimed): both checked and counted at once.
 * KEYS[1] this minute's counter, KEYS[2] the fleet-wide block (its end, on the service clock), KEYS[3] the
 * consumer's counter for this minute. ARGV: limit, counter ttl ms, now, calls this instance made this
 * minute while Redis was away (added to the count first), the consumer's share (0: none claimed).
 * Answers {count after the call, 0} when allowed, {count, -1} when over the limit, {0, blockedUntil} when
 * blocked, {consumer's count, -2} when its share is spent.
 */
const TAKE = `
local carried = tonumber(ARGV[4])
if carried > 0 then
  redis.call('INCRBY', KEYS[1], carried)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > tonumber(ARGV[3]) then return {0, blocked} end
local share = tonumber(ARGV[5])
if share > 0 then
  local spent = tonumber(redis.call('GET', KEYS[3]) or '0')
  if spent >= share then return {spent, -2} end
end
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then return {used, -1} end
used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if share > 0 and redis.call('INCR', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[2]) end
return {used, 0}
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    kbffTake(counter: string, blocked: string, share: string, limit: number, ttlMs: number, nowMs: number, carried: number, shareLimit: number): Result<[number, number], Context>;
  }
}

const KEY = BUDGET_KEY;

export interface GovernorState {
  /** Budget per clock minute, as Katapult last reported it (`X-Ratelimit-Permitted`). */
  permitted: number;
  /** Calls made this minute, fleet-wide when Redis is up. */
  used: number;
  /** Katapult's own count of what is left this minute, if it answered this minute. */
  remaining: number | null;
  /** Background refreshes stop once `used` reaches this. */
  backgroundLimit: number;
  /** The lists' detail upkeep stops once `used` reaches this. */
  upkeepLimit: number;
  /** Epoch ms until which nobody calls upstream (after a 429); null when not blocked. */
  blockedUntil: number | null;
  shared: boolean;
  /** The instances sharing the token as last counted; while Redis is away each spends at most 1/`instances` of what was left. */
  instances: number;
}

/**
 * The token's per-minute budget, shared by every instance that uses the token (FACTS.md: a fixed clock
 * minute, `X-Ratelimit-Permitted`/`-Remaining` on every response, no `Retry-After`). Every upstream call
 * asks first. Background refreshes stop at `100 - reservePercent`% of the budget, leaving the rest to
 * consumer-driven misses, and the lists' detail upkeep at half of that; a 429 stops every instance until
 * the next minute boundary. The count is the fleet's, in Redis; while Redis cannot be reached each
 * instance spends only its part of what was left, and adds what it spent to the fleet's count when Redis
 * answers again.
 */
export class BudgetGovernor {
  #permitted: number;
  #minute = -1;
  /** Calls made this minute while Redis could not be reached, not yet added to the fleet's count. */
  #localUsed = 0;
  /** The fleet's count this minute, as Redis last answered it. */
  #sharedUsed = 0;
  /** While Redis is away: what the fleet had spent this minute when it went, as best this instance knew. */
  #spentBeforeAway: number | null = null;
  #remaining: number | null = null;
  #blockedUntil = 0;
  /** The minute in which each kind of refusal was last logged: one line per minute, not per request. */
  readonly #loggedRefusal = new Map<string, number>();

  constructor(
    private readonly redis: RedisGuard | null,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly reservePercent: number,
    /** Assumed until Katapult says otherwise; 1000 for most tokens. */
    defaultPermitted = 1000,
    /** The instances sharing the token, as last known: while Redis is away each spends only its part. */
    private readonly fleetSize: () => number = () => 1,
  ) {
    this.#permitted = defaultPermitted;
    redis?.client.defineCommand('kbffTake', { numberOfKeys: 3, lua: TAKE });
  }

  /**
   * Resolves when a call may go, counted against the budget and against `share` (the causing consumer's,
   * when it has one); throws `rate_limited` or `share_exhausted` (with no upstream call made, nothing
   * counted) when it may not.
   */
  async take(priority: Priority, share?: ShareClaim): Promise<void> {
    const now = this.clock.now();
    this.#roll(now);
    if (now < this.#blockedUntil) throw this.#refusal('budget spent until the next minute');
    const limit = this.#limit(priority);
    // Katapult's own count also covers other users of the token.
    if (this.#remaining !== null && this.#permitted - this.#remaining >= limit) throw this.#refusal(`${priority} share of the budget used`);

    const carried = this.#localUsed;
    const shared = await this.#takeShared(now, limit, carried, share);
    if (shared === null) {
      // Redis away: this instance's part of what the fleet had left when it last counted, never the
      // whole budget each, or a paused Redis would multiply the budget by the number of instances. What
      // the fleet had spent is the freshest count it knows (Redis' last, or Katapult's since), and the
      // limit keeps the reserve back as a margin: the others may have spent a little since it counted.
      // Without Redis at all, the instance is the whole fleet and knows every call.
      this.#spentBeforeAway ??= Math.max(this.#sharedUsed, this.#remaining === null ? 0 : this.#permitted - this.#remaining);
      const margin = this.redis ? Math.floor((limit * (100 - this.reservePercent)) / 100) : limit;
      const part = Math.floor(Math.max(0, margin - this.#spentBeforeAway) / Math.max(1, this.fleetSize()));
      if (this.#localUsed >= part) throw this.#refusal(`${priority} share of the budget used`);
      share?.takeLocally();
      this.#localUsed++;
      return;
    }
    // What was spent while Redis was away is in the fleet's count now.
    this.#localUsed -= carried;
    this.#spentBeforeAway = null;
    const [used, flag] = shared;
    if (flag === -2) share!.refuse();
    if (flag > 0) {
      this.#blockedUntil = flag;
      throw this.#refusal('budget spent until the next minute');
    }
    this.#sharedUsed = used;
    if (flag < 0) throw this.#refusal(`${priority} share of the budget used`);
  }

  /**
   * Adds what this instance spent while Redis was away to the fleet's count, at once rather than at its
   * next call (the heartbeat calls it), so the others see it as soon as Redis is back.
   */
  async sync(): Promise<void> {
    const now = this.clock.now();
    this.#roll(now);
    const carried = this.#localUsed;
    if (!carried || !this.redis) return;
    const counter = countKey(now);
    const done = await this.redis.run('budget', (r) => r.multi().incrby(counter, carried).pexpire(counter, 2 * MINUTE_MS).exec());
    if (done) this.#localUsed -= carried;
  }

  /** The token's budget per clock minute, as Katapult last reported it. */
  get permitted(): number {
    return this.#permitted;
  }

  /** Learns the budget from Katapult's headers, on every response. */
  observe(rateLimit: RateLimit | null): void {
    if (!rateLimit) return;
    this.#roll(this.clock.now());
    if (rateLimit.permitted !== null) this.#permitted = rateLimit.permitted;
    if (rateLimit.remaining !== null) this.#remaining = Math.min(this.#remaining ?? Infinity, rateLimit.remaining);
  }

  /** After a 429: nobody calls upstream until the next minute boundary. */
  async block(): Promise<void> {
    const now = this.clock.now();
    const until = nextMinuteAt(now);
    if (until > this.#blockedUntil) this.logger.warn({ until: new Date(until).toISOString() }, 'upstream rate limit reached: no upstream calls until the next minute');
    this.#blockedUntil = until;
    // PX takes whole milliseconds only.
    await this.redis?.run('budget', (r) => r.set(`${KEY}:blocked`, String(until), 'PX', Math.max(1, Math.ceil(until - now))));
  }

  /** What the governor knows now, including a block another instance set after a 429. */
  async state(): Promise<GovernorState> {
    const now = this.clock.now();
    this.#roll(now);
    const shared = await this.redis?.run('budget', (r) => r.get(`${KEY}:blocked`));
    if (shared && Number(shared) > this.#blockedUntil) this.#blockedUntil = Number(shared);
    return {
      permitted: this.#permitted,
      used: this.#sharedUsed + this.#localUsed,
      remaining: this.#remaining,
      backgroundLimit: this.#limit('background'),
      upkeepLimit: this.#limit('upkeep'),
      blockedUntil: now < this.#blockedUntil ? this.#blockedUntil : null,
      shared: this.redis?.state === 'up',
      instances: this.fleetSize(),
    };
  }

  /** Consumers may use the whole budget; background refreshes stop at the reserve; upkeep at half of that. */
  #limit(priority: Priority): number {
    const background = Math.floor((this.#permitted * (100 - this.reservePercent)) / 100);
    return priority === 'consumer' ? this.#permitted : priority === 'background' ? background : Math.floor(background / 2);
  }

  #roll(now: number): void {
    const minute = clockMinute(now);
    if (minute === this.#minute) return;
    this.#minute = minute;
    this.#localUsed = 0;
    this.#sharedUsed = 0;
    this.#spentBeforeAway = null;
    this.#remaining = null;
  }

  async #takeShared(now: number, limit: number, carried: number, share: ShareClaim | undefined): Promise<[number, number] | null> {
    // Null when Redis is away: count in this instance alone until it is back.
    return (await this.redis?.run('budget', (r) => r.kbffTake(countKey(now), `${KEY}:blocked`, share?.key ?? `${KEY}:share:none`, limit, 2 * MINUTE_MS, now, carried, share?.limit ?? 0))) ?? null;
  }

  #refusal(why: string): UpstreamError {
    if (this.#loggedRefusal.get(why) !== this.#minute) {
      this.#loggedRefusal.set(why, this.#minute);
      this.logger.warn({ why, permitted: this.#permitted, used: this.#sharedUsed + this.#localUsed, remaining: this.#remaining }, 'budget governor: refusing upstream calls');
    }
    return new UpstreamError('rate_limited', `not calling upstream: ${why}`, null, REFUSED_BY_GOVERNOR);
  }
}

/** The fleet's count of calls in the clock minute of `now`. */
function countKey(now: number): string {
  return `${KEY}:count:${clockMinute(now)}`;
}
