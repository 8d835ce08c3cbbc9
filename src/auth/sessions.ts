import { createHash, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { RedisGuard } from '../redis/guard.js';
import type { Clock } from '../domain/clock.js';

/** A signed-in user, as the service keeps it: never a token, only what it decided from the ID token. */
export interface Session {
  sub: string;
  name: string | null;
  /** The organizations the user may read (ids or sub-domains), from the provider's claim. */
  orgs: string[];
}

/** A sign-in under way: what the callback must find again (RFC 9700 §2.1: PKCE, state, nonce). */
export interface LoginAttempt {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
}

/** A new random id: 32 bytes, base64url. What a cookie carries; the store keys it by its hash only. */
export function newId(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Sessions and sign-ins under way, fleet-wide in Redis (so any instance serves a session another made,
 * and a logout ends it on all), in this process alone while Redis is away. Stored under the SHA-256 of
 * their id, so no id is ever written anywhere: not in Redis, not in a log.
 */
export class SessionStore {
  readonly #local = new LRUCache<string, { value: string; until: number }>({ max: 100_000 });

  constructor(
    private readonly redis: RedisGuard | null,
    private readonly clock: Clock,
  ) {}

  async put(kind: 'session' | 'login', id: string, value: Session | LoginAttempt, ttlMs: number): Promise<void> {
    const key = keyOf(kind, id);
    const text = JSON.stringify(value);
    const stored = await this.redis?.run('session', (r) => r.set(key, text, 'PX', ttlMs));
    if (stored === undefined) this.#local.set(key, { value: text, until: this.clock.now() + ttlMs });
  }

  /** What `id` names; `once` deletes it as it is read (a sign-in attempt is good for one callback). */
  async get<T extends Session | LoginAttempt>(kind: 'session' | 'login', id: string, once = false): Promise<T | null> {
    const key = keyOf(kind, id);
    const shared = await this.redis?.run('session', (r) => (once ? r.getdel(key) : r.get(key)));
    let text = shared ?? null;
    // Not in Redis (or Redis away): it may have been made here while Redis was away.
    if (text === null) {
      const local = this.#local.get(key);
      if (local && once) this.#local.delete(key);
      text = local && local.until > this.clock.now() ? local.value : null;
    }
    return text === null ? null : (JSON.parse(text) as T);
  }

  async delete(kind: 'session' | 'login', id: string): Promise<void> {
    const key = keyOf(kind, id);
    this.#local.delete(key);
    await this.redis?.run('session', (r) => r.del(key));
  }
}

function keyOf(kind: string, id: string): string {
  return `kbff:v1:{auth:${kind}:${createHash('sha256').update(id).digest('base64url')}}`;
}
