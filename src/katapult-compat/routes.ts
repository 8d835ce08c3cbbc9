import { Hono } from 'hono';
import { authorize, consumerAuth, type AuthDialect } from '../auth/middleware.js';
import type { Consumer, ConsumerKeys } from '../config/api-keys.js';
import type { ConsumerLimiter, LimitDecision } from '../auth/rate-limit.js';
import type { Clock } from '../domain/clock.js';
import type { AppContext, AppEnv } from '../http/context.js';
import { AppError, type ErrorCode } from '../http/errors.js';
import { ifNoneMatchMatches } from '../http/etag.js';
import { toAppError } from '../http/upstream-errors.js';
import { causeOf } from '../http/cause.js';
import type { Cause } from '../domain/cause.js';
import type { Logger } from '../observability/logger.js';
import type { Package } from '../packages/model.js';
import { organizationParam, PUBLIC } from '../domain/scope.js';
import { packageOf, packagesOf, type PackageService } from '../packages/service.js';
import type { FoundEntry, Served } from '../cache/entry.js';
import type { OrgRef, OrgScope, PackageLookup } from '../domain/scope.js';
import { KATAPULT_ERRORS, katapultEtag, toWireListItem, toWirePackage, type KatapultErrorCode } from './wire-format.js';

export interface KatapultCompatDeps {
  packages: PackageService;
  clock: Clock;
  logger: Logger;
  consumerKeys: ConsumerKeys;
  limiter: ConsumerLimiter;
  authRequired: boolean;
  trustProxyHops: number;
}

/** Thrown inside this router: answered in Katapult's wrapped envelope. */
class KatapultError extends Error {
  constructor(
    readonly code: KatapultErrorCode,
    readonly detail: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(code);
  }
}

/**
 * The package endpoints of Katapult core/v1, answered from this service's cache, so existing Katapult
 * clients (go-katapult, the Terraform provider, katapult-cli) work by changing their base URL to
 * `<this service>/core/v1`. The caller's `Authorization: Bearer` carries its consumer key, never the
 * Katapult token; bodies, ETags, pagination and errors are Katapult's. Every other Katapult path is
 * Katapult's own `route_not_found`: nothing is passed through.
 */
export function katapultCompatRoutes(deps: KatapultCompatDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const dialect = katapultAuthDialect(deps.limiter);
  // `/…/*` matches the list path itself too: one registration, one token per request.
  routes.use('/core/v1/virtual_machine_packages/*', consumerAuth(deps.consumerKeys, deps.limiter, dialect));
  // Every failure on these paths leaves in Katapult's wrapped envelope.
  routes.onError((err, c) => katapultError(c, err instanceof KatapultError ? err : fromAppError(err, deps)));

  routes.get('/core/v1/virtual_machine_packages', (c) =>
    answer(c, async () => {
      const q = new URL(c.req.url).searchParams;
      const scope = organizationOf(q);
      const page = intArg(q, 'page', 1);
      const perPage = intArg(q, 'per_page', 30);
      if (page < 1 || perPage < 1 || perPage > 200) throw new KatapultError('invalid_argument', { issue: 'validation_errors' });
      authorize(c, scope, deps.authRequired, dialect);
      const all = packagesOf(await serve(deps, () => deps.packages.list(scope, causeOf(c, deps.trustProxyHops))));
      const total = all.length;
      return JSON.stringify({
        pagination: { current_page: page, total_pages: Math.max(1, Math.ceil(total / perPage)), total, per_page: perPage, large_set: false },
        virtual_machine_packages: all.slice((page - 1) * perPage, page * perPage).map(toWireListItem),
      });
    }),
  );

  // Both forms real clients use: `/virtual_machine_package` (OpenAPI client) and `/_` (older go-katapult).
  // As in Apia, without a lookup key in the query the path segment is the id (so a bare `/_` finds nothing).
  routes.get('/core/v1/virtual_machine_packages/:segment', (c) =>
    answer(c, async (consumer) => {
      const q = new URL(c.req.url).searchParams;
      const segment = c.req.param('segment');
      const lookup = lookupOf(q, segment === 'virtual_machine_package' ? null : segment);
      authorize(c, PUBLIC, deps.authRequired, dialect);
      const pkg = await findPackage(deps, lookup, consumer, causeOf(c, deps.trustProxyHops));
      return JSON.stringify({ virtual_machine_package: toWirePackage(pkg) });
    }),
  );

  routes.all('/core/v1/*', (c) =>
    katapultError(c, new KatapultError('route_not_found', {}, {})),
  );
  return routes;
}

/** The body `body` gives, as Katapult sends it: its weak ETag, its caching header, and a 304 when it matches. */
async function answer(c: AppContext, body: (consumer: Consumer | null) => Promise<string>): Promise<Response> {
  const text = await body(c.get('consumer'));
  const etag = katapultEtag(text);
  const headers = { etag, 'cache-control': 'max-age=0, private, must-revalidate' };
  if (ifNoneMatchMatches(c.req.header('if-none-match'), etag)) return c.body(null, 304, headers);
  return c.body(text, 200, { ...headers, 'content-type': 'application/json' });
}

/** The one auth decision, said as Katapult says it; the consumer's limit in Katapult's own rate-limit headers. */
function katapultAuthDialect(limiter: ConsumerLimiter): AuthDialect {
  const limitHeaders = (d: LimitDecision) => ({ 'x-ratelimit-permitted': String(limiter.burst), 'x-ratelimit-remaining': String(d.remaining) });
  return {
    limitHeaders,
    refuse(refusal) {
      switch (refusal.kind) {
        case 'unknown_key':
          return new KatapultError('invalid_api_token');
        case 'key_required':
          return new KatapultError('missing_api_token');
        case 'not_listed':
          return new KatapultError('scope_not_granted', { scopes: [] });
        case 'over_limit':
          return new KatapultError('rate_limit_reached', { total_permitted: limiter.burst }, { ...limitHeaders(refusal.decision), 'retry-after': String(refusal.decision.resetSeconds) });
      }
    },
  };
}

function katapultError(c: AppContext, err: KatapultError): Response {
  const [status, description] = KATAPULT_ERRORS[err.code];
  const body = JSON.stringify({ error: { code: err.code, description, detail: err.detail } });
  return c.body(body, status as 400, { ...err.headers, 'content-type': 'application/json', 'cache-control': 'no-cache', 'x-api-schema': 'json-error' });
}

const FROM_APP: Partial<Record<ErrorCode, KatapultErrorCode>> = {
  package_not_found: 'package_not_found',
  organization_not_found: 'organization_not_found',
  invalid_request: 'invalid_argument',
  unauthorized: 'missing_api_token',
  forbidden: 'scope_not_granted',
  upstream_share_exhausted: 'rate_limit_reached',
};

function fromAppError(err: unknown, deps: KatapultCompatDeps): KatapultError {
  const app = toAppError(err, deps.clock.now());
  if (!(app instanceof AppError)) {
    deps.logger.error({ err }, 'unhandled error on the Katapult-compatible endpoint');
    return new KatapultError('service_unavailable');
  }
  const code = FROM_APP[app.code] ?? 'service_unavailable';
  const headers: Record<string, string> = app.retryAfterSeconds ? { 'retry-after': String(app.retryAfterSeconds) } : {};
  return new KatapultError(code, {}, headers);
}

async function serve(deps: KatapultCompatDeps, fn: () => Promise<Served>): Promise<FoundEntry> {
  const served = await fn();
  if (served.entry.kind === 'not_found') throw new KatapultError(served.entry.code as KatapultErrorCode);
  return served.entry;
}

/**
 * A package by id or permalink. Public packages for anyone; a private one only inside an organization
 * that the consumer's key lists by name (a `*` key cannot say which organizations to look in).
 */
async function findPackage(deps: KatapultCompatDeps, lookup: PackageLookup, consumer: Consumer | null, cause: Cause): Promise<Package> {
  const scopes: OrgScope[] = [PUBLIC];
  if (consumer && consumer.scopes !== '*') {
    for (const s of consumer.scopes) scopes.push({ kind: s.startsWith('org_') ? 'id' : 'sub_domain', value: s });
  }
  for (const scope of scopes) {
    const served = await deps.packages.get(lookup, scope, cause);
    if (served.entry.kind === 'found') return packageOf(served.entry);
  }
  throw new KatapultError('package_not_found');
}

/** `organization[id]` or `organization[sub_domain]`, not both; neither means public packages only. */
function organizationOf(q: URLSearchParams): OrgScope {
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

function lookupOf(q: URLSearchParams, segment: string | null): PackageLookup {
  const id = q.get('virtual_machine_package[id]');
  const permalink = q.get('virtual_machine_package[permalink]');
  if (id !== null && permalink !== null) throw new KatapultError('invalid_argument', { issue: 'ambiguous_lookup_values' });
  const value = id ?? permalink ?? segment;
  if (value === null) throw new KatapultError('package_not_found');
  const by = permalink !== null ? 'permalink' : 'id';
  // Values that cannot name a package (every id starts vmpkg_) are not worth an upstream call.
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(value) || (by === 'id' && !/^vmpkg_[A-Za-z0-9]{1,64}$/.test(value))) {
    throw new KatapultError('package_not_found');
  }
  return { by, value };
}

function intArg(q: URLSearchParams, name: string, fallback: number): number {
  const raw = q.get(name);
  if (raw === null) return fallback;
  if (!/^-?\d{1,9}$/.test(raw)) throw new KatapultError('invalid_argument', { issue: 'parse_error', argument: name });
  return Number(raw);
}
