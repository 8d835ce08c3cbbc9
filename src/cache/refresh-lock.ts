import type { Result } from 'ioredis';
import type { RedisGuard } from '../redis/guard.js';
import type { CacheEntry } from './entry.js';
import type { RedisStore } from './redis-store.js';
import type { Clock } from '../domain/clock.js';
import { INVALIDATION_CHANNEL } from './keys.js';

/** The message that says a key's lock was let go, on the invalidation channel. */
export interface LockSettled {
  op: 'settled';
  key: string;
}

/**
 * Decides, across every instance sharing Redis, who refreshes a key. The lock is a short lease that its
 * holder renews while it works (a heartbeat), so a holder that dies (a killed process, a lost network)
 * is taken over within one lease, not after the slowest possible refresh. The holder gets a fencing
 * number (a per-key counter), so a holder that stalls past its lease cannot overwrite a later holder's entry.
 * When the holder's refresh fails it leaves a short failure mark, and the waiters give up with that error
 * instead of each calling upstream in turn.
 *
 * Keys sit beside the entry's and share its `{…}` hash tag: `<entry>:lock`, `<entry>:fence`, `<entry>:fail`.
 * Taking the lock answers the entry as it is then, so the holder sees every write made before it took
 * the lock in the same round trip (another instance may have refreshed the key since this one read it).
 */
const ACQUIRE = `
local failed = redis.call('GET', KEYS[3])
if failed then
  local kind, untilMs = string.match(failed, '^(%S+) (%d+)$')
  if kind and tonumber(untilMs) > tonumber(ARGV[2]) then return {0, kind, {}} end
end
if redis.call('SET', KEYS[1], 'pending', 'NX', 'PX', ARGV[1]) then
  local fence = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], fence, 'PX', ARGV[1])
  return {fence, '', redis.call('HGETALL', KEYS[4])}
end
return {0, '', {}}
`;

/** Lets go of the lock (KEYS[1]) held under fence ARGV[1], and wakes the waiters on channel ARGV[2]. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], cjson.encode({op = 'settled', key = KEYS[2]}))
  return 1
end
return 0
`;

/** Extends the lease, only while this holder (fence ARGV[1]) still holds it. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    kbffAcquire(lock: string, fence: string, fail: string, entry: string, ttlMs: number, nowMs: number): Result<[number, string, string[]], Context>;
    kbffRelease(lock: string, entry: string, fence: string, channel: string): Result<number, Context>;
    kbffRenew(lock: string, fence: string, leaseMs: number): Result<number, Context>;
  }
}

export type Acquired =
  /** This instance refreshes; `current` is the entry Redis held when it took the lock. */
  | { kind: 'acquired'; fence: number; current: CacheEntry | undefined }
  /** Another instance is refreshing: wait for its result. */
  | { kind: 'busy' }
  /** The last refresh failed moments ago; its error stands for a short while. */
  | { kind: 'failed'; error: string };

export type Waited =
  | { kind: 'entry'; entry: CacheEntry }
  | { kind: 'failed'; error: string }
  /** The holder let go without a result (it died, or its lock expired): try to take over. */
  | { kind: 'released' }
  | { kind: 'timeout' };

export interface RefreshLockOptions {
  /** How long a lock lives unless its holder renews it; a dead holder is taken over after at most this. */
  leaseMs: number;
  /** How long a failed refresh keeps the others from trying again. */
  failureTtlMs: number;
  /**
   * How long, in real time, a waiter goes without looking when no wake-up comes: a holder that dies
   * sends none, and a wake-up is lost while the subscriber reconnects.
   */
  recheckMs?: number;
}

/**
 * Wake-ups for waiters: resolves when the fleet says `key`'s lock was let go (the holder wrote, failed or
 * released), or after `ms` of real time at the latest. The invalidation listener is one.
 */
export interface LockWakeups {
  next(key: string, ms: number): Promise<void>;
}

/** Without a subscriber: waiters look again every `ms`. */
const noWakeups: LockWakeups = { next: (_key, ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()) };

export class RefreshLock {
  constructor(
    private readonly guard: RedisGuard,
    private readonly store: RedisStore,
    private readonly clock: Clock,
    private readonly opts: RefreshLockOptions,
    private readonly wakeups: LockWakeups = noWakeups,
  ) {
    guard.client.defineCommand('kbffAcquire', { numberOfKeys: 4, lua: ACQUIRE });
    guard.client.defineCommand('kbffRelease', { numberOfKeys: 2, lua: RELEASE });
    guard.client.defineCommand('kbffRenew', { numberOfKeys: 1, lua: RENEW });
  }

  /** Null when Redis cannot answer: the caller refreshes on its own (per-instance single-flight only). */
  async acquire(key: string): Promise<Acquired | null> {
    const answer = await this.guard.run('lock', (r) => r.kbffAcquire(`${key}:lock`, `${key}:fence`, `${key}:fail`, key, this.opts.leaseMs, this.clock.now()));
    if (!answer) return null;
    const [fence, failed, fields] = answer;
    if (failed) return { kind: 'failed', error: failed };
    if (fence <= 0) return { kind: 'busy' };
    const hash: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) hash[fields[i]!] = fields[i + 1]!;
    return { kind: 'acquired', fence, current: this.store.parse(key, hash) };
  }

  /**
   * Renews the lease every third of it until the returned function is called. A renewal that fails
   * (Redis away) is not retried early: the fence still guards the write if the lease lapses.
   */
  heartbeat(key: string, fence: number): () => void {
    // A real timer, not the injected clock: it renews an expiry that Redis keeps in real time.
    const timer = setInterval(() => {
      void this.guard.run('lock', (r) => r.kbffRenew(`${key}:lock`, String(fence), this.opts.leaseMs));
    }, this.opts.leaseMs / 3);
    timer.unref();
    return () => clearInterval(timer);
  }

  async release(key: string, fence: number): Promise<void> {
    await this.guard.run('lock', (r) => r.kbffRelease(`${key}:lock`, key, String(fence), INVALIDATION_CHANNEL));
  }

  /** Records that the refresh failed, so waiters stop waiting and callers stop trying for a moment. */
  async markFailed(key: string, error: string): Promise<void> {
    // The mark carries its end on the service clock; Redis' own expiry only cleans it up.
    const until = this.clock.now() + this.opts.failureTtlMs;
    const settled = JSON.stringify({ op: 'settled', key } satisfies LockSettled);
    await this.guard.run('lock', (r) => r.multi().set(`${key}:fail`, `${error} ${until}`, 'PX', this.opts.failureTtlMs).publish(INVALIDATION_CHANNEL, settled).exec());
  }

  #activeFailure(mark: unknown): string | null {
    if (typeof mark !== 'string') return null;
    const [kind, until] = mark.split(' ');
    return kind && Number(until) > this.clock.now() ? kind : null;
  }

  /**
   * Waits for the holder of `key`'s lock to store an entry newer than `since` (a `storedAt`), or to fail,
   * or to let go. Bounded by `deadline` (on the injected clock). It looks when woken by the holder's
   * message, so a crowd of waiters costs Redis one read each per refresh rather than one per poll.
   */
  async waitFor(key: string, since: number, deadline: number): Promise<Waited> {
    const recheckMs = this.opts.recheckMs ?? 100;
    let woken = this.wakeups.next(key, recheckMs);
    while (this.clock.now() < deadline) {
      await woken;
      // Listening again before looking: a message sent while the read is on its way is not missed.
      woken = this.wakeups.next(key, recheckMs);
      const answers = await this.guard.run('lock', (r) => r.multi().hgetall(key).exists(`${key}:lock`).get(`${key}:fail`).exec());
      if (!answers) {
        // One command lost to a busy moment says nothing of the holder; Redis gone means nobody coordinates.
        if (this.guard.state === 'down') return { kind: 'released' };
        continue;
      }
      const entry = this.store.parse(key, (answers[0]?.[1] ?? {}) as Record<string, string>);
      if (entry && entry.storedAt > since) return { kind: 'entry', entry };
      const failed = this.#activeFailure(answers[2]?.[1]);
      if (failed) return { kind: 'failed', error: failed };
      if (answers[1]?.[1] === 0) return { kind: 'released' };
    }
    return { kind: 'timeout' };
  }
}
