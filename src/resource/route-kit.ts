import type { MiddlewareHandler } from 'hono';
import { appAuthDialect } from '../auth/app-dialect.js';
import { authorize, consumerAuth } from '../auth/middleware.js';
import type { ConsumerLimiter } from '../auth/rate-limit.js';
import type { WorkloadTokens } from '../auth/workload-tokens.js';
import type { SignIn } from '../auth/sign-in.js';
import type { FoundEntry, Served } from '../cache/entry.js';
import type { ConsumerKeys } from '../config/api-keys.js';
import type { ConsumerCause } from '../domain/cause.js';
import type { Clock } from '../domain/clock.js';
import type { OrgScope } from '../domain/scope.js';
import { requestCause } from '../http/cause.js';
import type { AppContext, AppEnv } from '../http/context.js';
import { AppError, type NotFoundCatalog } from '../http/errors.js';
import type { Compressor } from '../http/compression.js';
import { isShared, render, send } from '../http/respond.js';
import { toAppError } from '../http/upstream-errors.js';

/** Turns a found entry into the answer's representation (a list's composition and shape), with more headers. */
export type Finish = (entry: FoundEntry) => Promise<{ entry: FoundEntry; headers: Record<string, string> }>;

/**
 * What a resource's simplified routes are built from: one way to authenticate, to say who pays, to answer
 * from the cache and to refuse, in this service's own error format (the Katapult dialect's is `CompatKit`).
 */
export interface RouteKit {
  /** Who is calling, within its request limit: mount it on the resource's paths (`/things/*` covers `/things`). */
  auth: MiddlewareHandler<AppEnv>;
  /** Who pays for this request's upstream calls, and when it stops waiting for them. */
  causeOf(c: AppContext): ConsumerCause;
  /**
   * The answer of a cached route: the caller may read `scope`, `serve` gives the cache's answer (upstream
   * failures become their errors), `finish` shapes a found entry; then the caching headers, the
   * public/private rule, a 304 for a matching `If-None-Match`, and a not-found in its resource's words.
   */
  answer(c: AppContext, scope: OrgScope, serve: () => Promise<Served>, finish?: Finish): Promise<Response>;
  /** The answer to anything but GET and HEAD on a resource's paths. */
  methodNotAllowed(c: AppContext): never;
}

export interface RouteKitDeps {
  clock: Clock;
  consumerKeys: ConsumerKeys;
  limiter: ConsumerLimiter;
  authRequired: boolean;
  trustProxyHops: number;
  katapultTimeoutMs: number;
  notFound: NotFoundCatalog;
  /** Workload tokens (JWTs) accepted beside API keys; null when not configured. */
  tokens: WorkloadTokens | null;
  /** Users signed in through the service (session cookies); null when sign-in is off. */
  signIn: SignIn | null;
  compressor: Compressor;
}

export function routeKit(deps: RouteKitDeps): RouteKit {
  const dialect = appAuthDialect(deps.limiter);
  return {
    auth: consumerAuth(deps.consumerKeys, dialect, deps.tokens, deps.signIn),
    causeOf: requestCause(deps),
    async answer(c, scope, serve, finish) {
      authorize(c, scope, deps.authRequired, dialect);
      let served = await serve().catch((err: unknown) => {
        throw toAppError(err, deps.clock.now(), deps.notFound);
      });
      let more: Record<string, string> = {};
      if (finish && served.entry.kind === 'found') {
        const finished = await finish(served.entry);
        served = { ...served, entry: finished.entry };
        more = finished.headers;
      }
      const out = render(served, {
        shared: isShared(scope.kind === 'public', c.get('consumer') !== null, deps.authRequired),
        ifNoneMatch: c.req.header('if-none-match'),
        acceptEncoding: c.req.header('accept-encoding'),
        now: deps.clock.now(),
        notFound: deps.notFound,
        compressor: deps.compressor,
      });
      Object.assign(out.headers, more);
      return send(c, out);
    },
    methodNotAllowed(c) {
      c.header('allow', 'GET, HEAD');
      throw new AppError('method_not_allowed', `${c.req.method} is not allowed here; use GET`);
    },
  };
}
