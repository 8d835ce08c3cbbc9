import { randomUUID } from 'node:crypto';
import type { Result } from 'ioredis';
import { FLEET_KEY } from '../cache/keys.js';
import type { Logger } from '../observability/logger.js';
import type { RedisGuard } from '../redis/guard.js';

/**
 * Announces this instance and counts the live ones: KEYS[1] a sorted set of instance ids scored by their
 * last heartbeat on Redis' own clock (instances' clocks, and tests' fake ones, need not agree). ARGV: id,
 * how long a heartbeat counts (ms). Answers how many instances beat within that time, this one included.
 */
const BEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    kbffBeat(key: string, id: string, ttlMs: number): Result<number, Context>;
  }
}

export interface FleetOptions {
  /** How often this instance announces itself. */
  heartbeatMs: number;
  /** How long an announcement counts: an instance silent for this long is no longer counted. */
  ttlMs: number;
}

/**
 * The instances sharing the token, as this one last saw them in Redis. While Redis answers, the budget
 * and the shares are counted fleet-wide and this number does not matter; when it cannot be reached, each
 * instance spends only its part (`size` divides them), the number it knew before Redis went away.
 * Without Redis the instance is its own fleet.
 */
export class FleetMembers {
  readonly id = randomUUID();
  #size = 1;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: RedisGuard | null,
    private readonly logger: Logger,
    /** Also done at each heartbeat (the budget's catching up after Redis was away). */
    private readonly onBeat: () => Promise<void> = async () => {},
    private readonly opts: FleetOptions = { heartbeatMs: 5000, ttlMs: 15_000 },
  ) {
    redis?.client.defineCommand('kbffBeat', { numberOfKeys: 1, lua: BEAT });
  }

  /** Live instances, this one included, as last counted (1 until the first heartbeat answers). */
  get size(): number {
    return this.#size;
  }

  /** Announces this instance now and every `heartbeatMs` until `stop`; resolves after the first. */
  async start(): Promise<void> {
    if (!this.redis || this.#timer) return;
    // A real timer: heartbeats are scored on Redis' clock.
    this.#timer = setInterval(() => void this.beat(), this.opts.heartbeatMs);
    this.#timer.unref();
    await this.beat();
  }

  /** One heartbeat; the count is kept when Redis cannot answer. */
  async beat(): Promise<void> {
    const [size] = await Promise.all([this.redis?.run('fleet', (r) => r.kbffBeat(FLEET_KEY, this.id, this.opts.ttlMs)), this.onBeat()]);
    if (size === undefined || size === this.#size) return;
    this.logger.info({ instances: size }, 'fleet: instances sharing the token');
    this.#size = size;
  }

  /** Stops announcing and leaves the count at once. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.redis?.run('fleet', (r) => r.zrem(FLEET_KEY, this.id));
  }
}
