import type { MiddlewareHandler } from 'hono';
import { mayRead, type Consumer, type ConsumerKeys } from '../config/api-keys.js';
import type { OrgRef, OrgScope } from '../domain/scope.js';
import type { AppContext, AppEnv } from '../http/context.js';
import type { LimitDecision, RequestLimiter } from './rate-limit.js';
import { WorkloadTokens } from './workload-tokens.js';
import type { SignIn } from './sign-in.js';

/** Why a request is refused: the one decision every API surface makes, each saying it in its own format. */
export type Refusal =
  /** A key was presented that no consumer has: never quietly treated as anonymous. */
  | { kind: 'unknown_key' }
  /** A bearer token (a workload's JWT) that does not verify: RFC 6750's `invalid_token`. */
  | { kind: 'invalid_token' }
  /** A session cookie that names no live session (forged, altered, expired, signed out). */
  | { kind: 'invalid_session' }
  /** A cookie-authenticated request that does not prove it comes from this site (`X-CSRF: 1`, its origin). */
  | { kind: 'forged_request' }
  /** No key, where one is needed (an organization's packages, or anything with AUTH_REQUIRED). */
  | { kind: 'key_required'; scope: OrgScope }
  /** A valid key that does not list the organization. */
  | { kind: 'not_listed'; scope: OrgRef }
  /** The consumer's request bucket is empty. */
  | { kind: 'over_limit'; decision: LimitDecision };

/** How one API surface limits a consumer's requests and says so, and how it says a refusal. */
export interface AuthDialect {
  refuse(refusal: Refusal): Error;
  /** The surface's request limit, by consumer name. */
  limiter: RequestLimiter;
  limitHeaders(decision: LimitDecision): Record<string, string>;
  /**
   * Where a request that presents a credential naming nobody (an unknown key, a token that does not
   * verify, an `Authorization` that holds no key) is counted, so it too is told its limit and held to
   * it; undefined: such requests are refused without counting.
   */
  unidentified?(c: AppContext): string;
}

/** The credential of `Authorization: Bearer <token>` (RFC 6750 §2.1), or null. */
export function bearerToken(authorization: string | undefined): string | null {
  return authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() || null : null;
}

/** The key a request presents: `Authorization: Bearer <key>` or `X-Api-Key: <key>`. */
export function presentedKey(authorization: string | undefined, apiKey: string | undefined): string | null {
  return apiKey || bearerToken(authorization);
}

/**
 * Identifies the caller (anonymous without a key) and counts the request against its limit, in the
 * dialect's model. A credential is a configured API key, or, when workload tokens are on, a JWT its
 * issuer signed. Each surface mounts it on all its paths with its own dialect, so none is left without it.
 */
export function consumerAuth(keys: ConsumerKeys, dialect: AuthDialect, tokens: WorkloadTokens | null = null, signIn: SignIn | null = null): MiddlewareHandler<AppEnv> {
  /** One request taken from `name`'s limit; its headers kept for the answer, whatever it turns out to be. */
  const count = async (c: AppContext, name: string) => {
    const decision = await dialect.limiter.take(name);
    c.set('limitHeaders', dialect.limitHeaders(decision));
    if (!decision.allowed) throw dialect.refuse({ kind: 'over_limit', decision });
  };
  return async function consumerAuth(c, next) {
    const authorization = c.req.header('authorization');
    const apiKey = c.req.header('x-api-key');
    const key = presentedKey(authorization, apiKey);
    // A credential naming nobody is counted where the dialect says, before it is refused.
    const countsUnidentified = (authorization !== undefined || apiKey !== undefined) && dialect.unidentified !== undefined;
    const refuse = async (refusal: Refusal) => {
      if (countsUnidentified) await count(c, dialect.unidentified!(c));
      return dialect.refuse(refusal);
    };
    let consumer = key === null ? null : keys.identify(key);
    // A signed-in user: the session cookie, only with proof the request comes from this site.
    const session = key === null && signIn ? await signIn.sessionOf(c) : undefined;
    if (session !== undefined) {
      if (signIn!.forged(c)) throw dialect.refuse({ kind: 'forged_request' });
      if (session === null) throw dialect.refuse({ kind: 'invalid_session' });
      consumer = { name: `user:${session.sub}`, scopes: new Set(session.orgs) };
    }
    if (key !== null && !consumer && tokens && WorkloadTokens.looksLikeToken(key)) {
      consumer = await tokens.verify(key);
      if (!consumer) throw await refuse({ kind: 'invalid_token' });
    }
    if (key !== null && !consumer) throw await refuse({ kind: 'unknown_key' });
    c.set('consumer', consumer);
    // Anonymous reads have no request limit: they are answered from the cache, and the upstream calls
    // they cause are held to their address's share (see upstream/consumer-share.ts).
    if (consumer) await count(c, consumer.name);
    else if (countsUnidentified) await count(c, dialect.unidentified!(c));
    await next();
    // Kept in the context for the error handlers too: every answer to a counted request states the limit
    // (unless the answer said more of it, as a refusal for the consumer's upstream share does).
    for (const [name, value] of Object.entries(c.get('limitHeaders') ?? {})) if (!c.res.headers.has(name)) c.res.headers.set(name, value);
  };
}

/** May `consumer` (null: anonymous) read `scope`? Null when it may. */
export function refusalFor(consumer: Consumer | null, scope: OrgScope, authRequired: boolean): Refusal | null {
  if (!consumer) return scope.kind === 'public' && !authRequired ? null : { kind: 'key_required', scope };
  if (scope.kind === 'public' || mayRead(consumer, scope)) return null;
  return { kind: 'not_listed', scope };
}

/** Throws the dialect's refusal when this request may not read `scope`. */
export function authorize(c: AppContext, scope: OrgScope, authRequired: boolean, dialect: AuthDialect): void {
  const refusal = refusalFor(c.get('consumer'), scope, authRequired);
  if (refusal) throw dialect.refuse(refusal);
}
