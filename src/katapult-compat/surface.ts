import { Hono } from 'hono';
import { authorize, consumerAuth, type AuthDialect } from '../auth/middleware.js';
import type { LimitDecision, MinuteWindow } from '../auth/rate-limit.js';
import type { FoundEntry, Served } from '../cache/entry.js';
import type { ConsumerKeys } from '../config/api-keys.js';
import type { Clock } from '../domain/clock.js';
import { organizationParam, PUBLIC, type OrgRef, type OrgScope } from '../domain/scope.js';
import { clientAddress } from '../http/cause.js';
import type { AppContext, AppEnv } from '../http/context.js';
import { AppError, isErrorCode, type ErrorCode, type NotFoundCatalog, type NotFoundCode } from '../http/errors.js';
import type { Compressor } from '../http/compression.js';
import { send, VARY } from '../http/respond.js';
import { toAppError } from '../http/upstream-errors.js';
import type { Logger } from '../observability/logger.js';
import type { WorkloadTokens } from '../auth/workload-tokens.js';
import { isKatapultErrorCode, KATAPULT_ERRORS, katapultEtag, type KatapultErrorCode } from './envelope.js';

/** Thrown inside the surface: answered in Katapult's wrapped envelope. */
export class KatapultError extends Error {
  constructor(
    /** One of Katapult's general codes, or a not-found code a resource declared. */
    readonly code: KatapultErrorCode | NotFoundCode,
    readonly detail: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(code);
  }
}

export interface KatapultSurfaceDeps {
  clock: Clock;
  logger: Logger;
  consumerKeys: ConsumerKeys;
  /** Each consumer's requests to this surface, in Katapult's model: so many per clock minute. */
  requestWindow: MinuteWindow;
  /** Upstream calls one consumer may cause per clock minute (its share of the token's budget). */
  upstreamShare: () => number;
  authRequired: boolean;
  trustProxyHops: number;
  /** Every resource's not-found codes, with Katapult's own descriptions. */
  notFound: NotFoundCatalog;
  /** Workload tokens, accepted where a client puts its Katapult token; null when not configured. */
  tokens: WorkloadTokens | null;
  compressor: Compressor;
}

/**
 * What a resource's Katapult-compatible handlers are built from: one way to authorize, answer and fail.
 * Who is calling, within its request limit, is decided for every path of the surface before them.
 */
export interface CompatKit {
  /** Throws Katapult's refusal when this request may not read `scope`. */
  authorize(c: AppContext, scope: OrgScope): void;
  /** A body as Katapult sends it: its weak ETag, its caching header, and a 304 when it matches; compressed as the client accepts. */
  answer(c: AppContext, body: () => Promise<string>): Promise<Response>;
  /** The entry of a cache answer, or Katapult's not-found for a remembered one. */
  found(served: Served): FoundEntry;
}

/**
 * Katapult core/v1 at the service root, so existing Katapult clients (go-katapult) work by changing
 * their base URL to `<this service>/core/v1`. The caller's `Authorization: Bearer` carries its consumer
 * key, never the Katapult token; bodies, ETags, pagination and errors are Katapult's. Each resource adds
 * its endpoints through `mounts`; every other path is Katapult's own `route_not_found`: nothing is passed through.
 */
export function katapultSurface(deps: KatapultSurfaceDeps, mounts: Array<(routes: Hono<AppEnv>, kit: CompatKit) => void>): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const dialect = katapultAuthDialect(deps);
  // Every path, the unknown ones too: each answer to a request with a credential states its limit.
  routes.use('/core/v1/*', consumerAuth(deps.consumerKeys, dialect, deps.tokens));
  const kit: CompatKit = {
    authorize: (c, scope) => authorize(c, scope, deps.authRequired, dialect),
    async answer(c, body) {
      const text = await body();
      const headers = { 'cache-control': 'max-age=0, private, must-revalidate', vary: VARY };
      return send(c, deps.compressor.represent(text, katapultEtag(text), headers, c.req.header('accept-encoding'), c.req.header('if-none-match'), 'application/json'));
    },
    found(served) {
      if (served.entry.kind === 'not_found') throw fromAppError(deps.notFound.error(served.entry.code), deps);
      return served.entry;
    },
  };
  for (const mount of mounts) mount(routes, kit);
  routes.all('/core/v1/*', () => {
    throw new KatapultError('route_not_found');
  });
  // Every failure on these paths leaves in Katapult's wrapped envelope.
  routes.onError((err, c) => katapultError(c, err instanceof KatapultError ? err : fromAppError(err, deps), deps.notFound));
  return routes;
}

/**
 * The one auth decision, said as Katapult says it, and the consumer's limit in Katapult's own model and
 * headers (FACTS.md, Rate limits): `X-Ratelimit-Permitted` requests in each clock minute, and
 * `X-Ratelimit-Remaining` what it may still send in this one, so the first answer of a minute says
 * Permitted - 1 and a 429 comes exactly when Remaining said 0. A credential that names nobody is counted
 * by the caller's address, so a guesser of keys is told and held to a limit as well.
 */
function katapultAuthDialect(deps: KatapultSurfaceDeps): AuthDialect {
  const perMinute = deps.requestWindow.permitted;
  const limitHeaders = (d: LimitDecision) => ({ 'x-ratelimit-permitted': String(perMinute), 'x-ratelimit-remaining': String(d.remaining) });
  return {
    limiter: deps.requestWindow,
    limitHeaders,
    unidentified: (c) => `unidentified:${clientAddress(c, deps.trustProxyHops)}`,
    refuse(refusal) {
      switch (refusal.kind) {
        case 'unknown_key':
          return new KatapultError('invalid_api_token');
        case 'invalid_session':
        case 'forged_request':
          return new KatapultError('invalid_api_token');
        case 'invalid_token':
          return new KatapultError('invalid_api_token', {}, { 'www-authenticate': 'Bearer error="invalid_token"' });
        case 'key_required':
          return new KatapultError('missing_api_token');
        case 'not_listed':
          return new KatapultError('scope_not_granted', { scopes: [] });
        case 'over_limit':
          return new KatapultError('rate_limit_reached', { total_permitted: perMinute }, { ...limitHeaders(refusal.decision), 'retry-after': String(refusal.decision.resetSeconds) });
      }
    },
  };
}

function katapultError(c: AppContext, err: KatapultError, notFound: NotFoundCatalog): Response {
  const [status, description] = isKatapultErrorCode(err.code) ? KATAPULT_ERRORS[err.code] : ([404, notFound.katapult(err.code)] as const);
  const body = JSON.stringify({ error: { code: err.code, description, detail: err.detail } });
  return c.body(body, status, { ...c.get('limitHeaders'), ...err.headers, 'content-type': 'application/json', 'cache-control': 'no-cache', 'x-api-schema': 'json-error' });
}

/**
 * Each of this service's own errors in Katapult's words: every code, so a new one cannot be left unsaid.
 * A resource's not-found codes are Katapult's already.
 */
const FROM_APP: Record<ErrorCode, KatapultErrorCode> = {
  invalid_request: 'invalid_argument',
  unauthorized: 'missing_api_token',
  forbidden: 'scope_not_granted',
  route_not_found: 'route_not_found',
  not_found: 'route_not_found',
  method_not_allowed: 'route_not_found',
  rate_limited: 'rate_limit_reached',
  upstream_share_exhausted: 'rate_limit_reached',
  upstream_error: 'service_unavailable',
  upstream_unavailable: 'service_unavailable',
  upstream_rate_limited: 'service_unavailable',
  upstream_timeout: 'service_unavailable',
  internal_error: 'service_unavailable',
};

function fromAppError(err: unknown, deps: KatapultSurfaceDeps): KatapultError {
  const app = err instanceof AppError ? err : toAppError(err, deps.clock.now(), deps.notFound);
  if (!(app instanceof AppError)) {
    deps.logger.error({ err }, 'unhandled error on the Katapult-compatible endpoint');
    return new KatapultError('service_unavailable');
  }
  const headers: Record<string, string> = app.retryAfterSeconds ? { 'retry-after': String(app.retryAfterSeconds) } : {};
  // Past its share of upstream calls a consumer meets Katapult's 429 as Katapult sends it: the limit it
  // reached, and nothing left to send for a miss this minute (cached answers are still served).
  if (app.code === 'upstream_share_exhausted') {
    return new KatapultError('rate_limit_reached', { total_permitted: deps.upstreamShare() }, { ...headers, 'x-ratelimit-remaining': '0' });
  }
  return new KatapultError(isErrorCode(app.code) ? FROM_APP[app.code] : app.code, {}, headers);
}

/** `organization[id]` or `organization[sub_domain]`, not both; neither means public items only. */
export function organizationOf(q: URLSearchParams): OrgScope {
  const id = q.get('organization[id]');
  const sub = q.get('organization[sub_domain]');
  if (id !== null && sub !== null) throw new KatapultError('invalid_argument', { issue: 'ambiguous_lookup_values' });
  if (id === null && sub === null) return PUBLIC;
  const kind: OrgRef['kind'] = id !== null ? 'id' : 'sub_domain';
  const parsed = organizationParam.safeParse(id ?? sub);
  // A value that cannot name any organization is not worth an upstream call.
  if (!parsed.success || parsed.data.kind !== kind) throw new KatapultError('organization_not_found');
  return parsed.data;
}

/** A whole-number query argument, Katapult's `invalid_argument` when it is not one. */
export function intArg(q: URLSearchParams, name: string, fallback: number): number {
  const raw = q.get(name);
  if (raw === null) return fallback;
  if (!/^-?\d{1,9}$/.test(raw)) throw new KatapultError('invalid_argument', { issue: 'parse_error', argument: name });
  return Number(raw);
}
