import type { Result } from 'ioredis';
import type { RedisGuard } from '../redis/guard.js';
import { scanKeys } from '../redis/client.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../observability/logger.js';
import { cacheEntry, type CacheEntry, type SharedStore, type WriteOutcome } from './entry.js';

import { INVALIDATION_CHANNEL } from './keys.js';

/**
 * Writes an entry hash unless a newer lock holder already wrote it (fencing), and tells other instances
 * when the representation changed. When the ETag is the same, only the times move: the body is not
 * rewritten and only a holder's release is broadcast. A lock holder's write also lets go of its lock
 * (`refresh-lock.ts`), in the same round trip; `changed` or `settled` wakes the instances waiting for it.
 * KEYS[1] entry, KEYS[2] its lock. ARGV: fence (0 = unfenced), ttl ms, channel, kind, body, etag, upstreamEtags, storedAt, freshUntil, staleUntil, pages, code.
 */
const WRITE = `
local fence = tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
if fence > 0 and current > fence then return 'fenced' end
local released = fence > 0 and redis.call('GET', KEYS[2]) == ARGV[1]
if released then redis.call('DEL', KEYS[2]) end
local previous = redis.call('HGET', KEYS[1], 'etag')
if previous == ARGV[6] then
  redis.call('HSET', KEYS[1], 'upstreamEtags', ARGV[7], 'storedAt', ARGV[8], 'freshUntil', ARGV[9], 'staleUntil', ARGV[10], 'pages', ARGV[11])
else
  redis.call('HSET', KEYS[1], 'kind', ARGV[4], 'body', ARGV[5], 'etag', ARGV[6], 'upstreamEtags', ARGV[7],
    'storedAt', ARGV[8], 'freshUntil', ARGV[9], 'staleUntil', ARGV[10], 'pages', ARGV[11], 'code', ARGV[12])
end
if fence > current then redis.call('HSET', KEYS[1], 'fence', fence) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if previous and previous ~= ARGV[6] then
  redis.call('PUBLISH', ARGV[3], cjson.encode({op = 'changed', key = KEYS[1], etag = ARGV[6]}))
  return 'changed'
end
if released then redis.call('PUBLISH', ARGV[3], cjson.encode({op = 'settled', key = KEYS[1]})) end
if previous then return 'unchanged' end
return 'written'
`;


declare module 'ioredis' {
  interface RedisCommander<Context> {
    kbffWrite(key: string, ...args: (string | number)[]): Result<WriteOutcome, Context>;
  }
}

/**
 * L2: Redis, shared by every instance; an entry is a hash so that a revalidation can move its times
 * without rewriting its body. Redis is a helper, never a dependency: every command goes through the
 * guard, and a failure (down, slow, skipped) or a corrupt value is answered as a miss or a skipped write,
 * so the caller carries on with L1 and upstream.
 */
export class RedisStore implements SharedStore {
  readonly #reading = new Map<string, Promise<CacheEntry | undefined>>();

  constructor(
    readonly guard: RedisGuard,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    guard.client.defineCommand('kbffWrite', { numberOfKeys: 2, lua: WRITE });
  }

  /**
   * Concurrent reads of one key share one HGETALL. A crowd of cold requests then costs Redis one command
   * per instance rather than one each, and a busy process does not time out hundreds of commands at once
   * (which would trip the guard and leave it refreshing without the fleet's lock). A joined read may
   * predate the caller by the command's round trip, as if the caller had come that much earlier.
   */
  get(key: string): Promise<CacheEntry | undefined> {
    let reading = this.#reading.get(key);
    if (!reading) {
      reading = this.read(key).finally(() => this.#reading.delete(key));
      this.#reading.set(key, reading);
    }
    return reading;
  }

  /** A read of its own, sent now: for a caller that must see every write made before this moment. */
  async read(key: string): Promise<CacheEntry | undefined> {
    const hash = await this.guard.run('get', (r) => r.hgetall(key));
    return hash && this.parse(key, hash);
  }

  /** The entries under every key matching one of `patterns` (Redis globs); empty when Redis cannot answer. */
  async matching(patterns: string[]): Promise<CacheEntry[]> {
    const keys = (await this.guard.run('scan', (r) => scanKeys(r, patterns))) ?? [];
    const entries = await Promise.all(keys.map((key) => this.read(key)));
    return entries.filter((e) => e !== undefined);
  }

  /** An entry from HGETALL's answer; undefined for none, or for one that does not parse. */
  parse(key: string, hash: Record<string, string>): CacheEntry | undefined {
    if (!hash.etag) return undefined;
    const times = { storedAt: Number(hash.storedAt), freshUntil: Number(hash.freshUntil), staleUntil: Number(hash.staleUntil) };
    const parsed = cacheEntry.safeParse(
      hash.kind === 'not_found'
        ? { kind: hash.kind, code: hash.code, etag: hash.etag, ...times }
        : {
            kind: hash.kind,
            body: hash.body,
            etag: hash.etag,
            upstreamEtags: safeJson(hash.upstreamEtags ?? ''),
            pages: (hash.pages && safeJson(hash.pages)) ?? undefined,
            ...times,
          },
    );
    if (!parsed.success) {
      this.logger.warn({ key }, 'redis: unreadable cache entry ignored');
      return undefined;
    }
    return parsed.data;
  }

  async set(key: string, entry: CacheEntry): Promise<void> {
    await this.write(key, entry, 0);
  }

  /**
   * Writes `entry` unless an entry written under a higher fence (a later lock holder) is there; a holder's
   * write (`fence` > 0) releases its lock too, unless it was `fenced`.
   */
  async write(key: string, entry: CacheEntry, fence: number): Promise<WriteOutcome> {
    // Physical TTL = end of the stale window; logical freshness lives in the entry.
    const ttlMs = Math.ceil(entry.staleUntil - this.clock.now());
    if (ttlMs <= 0) return 'failed';
    const outcome = await this.guard.run('write', (r) =>
      r.kbffWrite(
        key,
        `${key}:lock`,
        fence,
        ttlMs,
        INVALIDATION_CHANNEL,
        entry.kind,
        entry.kind === 'found' ? entry.body : '',
        entry.etag,
        JSON.stringify(entry.kind === 'found' ? entry.upstreamEtags : []),
        entry.storedAt,
        entry.freshUntil,
        entry.staleUntil,
        JSON.stringify(entry.kind === 'found' ? (entry.pages ?? null) : null),
        entry.kind === 'not_found' ? entry.code : '',
      ),
    );
    return outcome ?? 'failed';
  }
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}
