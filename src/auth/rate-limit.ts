import type { Result } from 'ioredis';
import type { RedisGuard } from '../redis/guard.js';
import { LRUCache } from 'lru-cache';
import { bucketKey, windowKey } from '../cache/keys.js';
import { clockMinute, nextMinuteAt, secondsToNextMinute, type Clock } from '../domain/clock.js';

/**
 * A token bucket per consumer: `burst` tokens, refilled at `ratePerSecond`. Shared through Redis when
 * present, so a consumer's limit holds across the fleet; in this process alone otherwise.
 * KEYS[1] bucket. ARGV: rate per ms, burst, now. Answers {allowed 0|1, tokens left × 1000}.
 */
const TAKE = `
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 't', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return {allowed, math.floor(tokens * 1000)}
`;

/** Counts one request in a consumer's clock-minute window. KEYS[1] window. ARGV: ms it lives. Answers the count. */
const COUNT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    kbffBucket(key: string, ratePerMs: number, burst: number, nowMs: number): Result<[number, number], Context>;
    kbffWindow(key: string, ttlMs: number): Result<number, Context>;
  }
}

/** A consumer's request limit, whatever its model: one request taken, and what is left. */
export interface RequestLimiter {
  take(name: string): Promise<LimitDecision>;
}

export interface LimitDecision {
  allowed: boolean;
  /** Whole tokens left. */
  remaining: number;
  /** Seconds until a token is back (for `Retry-After` and `RateLimit`). */
  resetSeconds: number;
}

export class ConsumerLimiter implements RequestLimiter {
  readonly #local = new LRUCache<string, { tokens: number; ts: number }>({ max: 100_000 });

  constructor(
    private readonly redis: RedisGuard | null,
    private readonly clock: Clock,
    readonly ratePerSecond: number,
    readonly burst: number,
  ) {
    redis?.client.defineCommand('kbffBucket', { numberOfKeys: 1, lua: TAKE });
  }

  /** Takes one token from the bucket of consumer `name`. */
  async take(name: string): Promise<LimitDecision> {
    const id = name;
    const now = this.clock.now();
    const ratePerMs = this.ratePerSecond / 1000;
    let allowed: boolean;
    let tokens: number;
    const shared = await this.redis?.run('bucket', (r) => r.kbffBucket(bucketKey(id), ratePerMs, this.burst, now));
    if (shared) {
      allowed = shared[0] === 1;
      tokens = shared[1] / 1000;
    } else {
      // Without Redis (none, or away): this instance's own bucket.
      const b = this.#local.get(id) ?? { tokens: this.burst, ts: now };
      b.tokens = Math.min(this.burst, b.tokens + Math.max(0, now - b.ts) * ratePerMs);
      b.ts = now;
      allowed = b.tokens >= 1;
      if (allowed) b.tokens -= 1;
      this.#local.set(id, b);
      tokens = b.tokens;
    }
    const resetSeconds = allowed ? Math.ceil((this.burst - tokens) / this.ratePerSecond) : Math.ceil((1 - tokens) / this.ratePerSecond);
    return { allowed, remaining: Math.floor(tokens), resetSeconds: Math.max(1, resetSeconds) };
  }
}

/**
 * Katapult's own model (FACTS.md, Rate limits): `permitted` requests per consumer in each clock minute,
 * counted fleet-wide in Redis (per instance while Redis is away). `remaining` is exactly what the consumer
 * may still send this minute without a 429, so a client that believes it is never refused early or late.
 */
export class MinuteWindow implements RequestLimiter {
  readonly #local = new LRUCache<string, { minute: number; count: number }>({ max: 100_000 });

  constructor(
    private readonly redis: RedisGuard | null,
    private readonly clock: Clock,
    readonly permitted: number,
  ) {
    redis?.client.defineCommand('kbffWindow', { numberOfKeys: 1, lua: COUNT });
  }

  async take(name: string): Promise<LimitDecision> {
    const now = this.clock.now();
    const minute = clockMinute(now);
    // The count outlives its minute by a little, so a clock a second apart on another instance still finds it.
    let count = await this.redis?.run('window', (r) => r.kbffWindow(windowKey(name, minute), nextMinuteAt(now) - now + 5_000));
    if (count == null) {
      const held = this.#local.get(name);
      const w = held?.minute === minute ? held : { minute, count: 0 };
      w.count++;
      this.#local.set(name, w);
      count = w.count;
    }
    return { allowed: count <= this.permitted, remaining: Math.max(0, this.permitted - count), resetSeconds: secondsToNextMinute(now) };
  }
}
