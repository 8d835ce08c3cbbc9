import { Hono } from 'hono';
import type { Clock } from '../domain/clock.js';
import type { AppContext, AppEnv } from '../http/context.js';
import { authorize, consumerAuth } from '../auth/middleware.js';
import type { ConsumerLimiter } from '../auth/rate-limit.js';
import type { ConsumerKeys } from '../config/api-keys.js';
import { appAuthDialect } from '../auth/app-dialect.js';
import { AppError, type NotFoundCatalog } from '../http/errors.js';
import { parseQuery } from '../http/query.js';
import { isShared, render } from '../http/respond.js';
import { toAppError } from '../http/upstream-errors.js';
import { packageRefParam, PUBLIC, type OrgScope } from '../domain/scope.js';
import { listQuery, scopeQuery } from './params.js';
import { ListShaper } from './list-query.js';
import { detailHeader, type ListDetails } from './details.js';
import type { PackageService } from './service.js';
import type { FoundEntry, Served } from '../cache/entry.js';
import type { ConsumerCause } from '../domain/cause.js';
import type { CacheEngine } from '../cache/engine.js';

/** The route patterns, also the `route` label of metrics and request lines. */
export const PACKAGES_ROUTE = '/packages';
export const PACKAGE_ROUTE = '/packages/:ref';

/** `GET /packages` and `GET /packages/{ref}`: the simplified API for internal services and the frontend. */
export interface PackageRoutesDeps {
  packages: PackageService;
  clock: Clock;
  consumerKeys: ConsumerKeys;
  limiter: ConsumerLimiter;
  authRequired: boolean;
  /** Who pays for a request's upstream calls, and its deadline. */
  causeOf: (c: AppContext) => ConsumerCause;
  /** Null with CACHE_LIST_DETAILS=false: lists carry Katapult's list fields only. */
  details: ListDetails | null;
  /** Where shaped answers are kept, within L1's byte bound. */
  engine: CacheEngine;
  /** Every resource's not-found codes, in this service's words. */
  notFound: NotFoundCatalog;
}

/** How long `?complete=true` waits for missing details before answering with what it has. */
const COMPLETE_WAIT_MS = 3000;

export function packageRoutes(deps: PackageRoutesDeps): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const dialect = appAuthDialect(deps.limiter);
  // Who is calling, and within their request limit (`/packages/*` matches `/packages` itself too).
  routes.use(`${PACKAGES_ROUTE}/*`, consumerAuth(deps.consumerKeys, deps.limiter, dialect));

  const shaper = new ListShaper(deps.engine);
  /** `finish` turns a found entry into the answer's representation (a list's composition and shape), with more headers. */
  type Finish = (entry: FoundEntry) => Promise<{ entry: FoundEntry; headers: Record<string, string> }>;
  const answer = async (c: AppContext, scope: OrgScope, serve: () => Promise<Served>, finish?: Finish) => {
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
      now: deps.clock.now(),
      notFound: deps.notFound,
    });
    Object.assign(out.headers, more);
    return out.body === null ? c.body(null, 304, out.headers) : c.body(out.body, 200, out.headers);
  };

  routes.get(PACKAGES_ROUTE, (c) => {
    const { organization, complete, ...shape } = parseQuery(searchOf(c.req.url), listQuery);
    const scope = organization ?? PUBLIC;
    const cause = deps.causeOf(c);
    return answer(c, scope, () => deps.packages.list(scope, cause), async (list) => {
      const { details } = deps;
      const composed = details ? await details.compose(list, scope, cause, complete ? COMPLETE_WAIT_MS : 0) : null;
      const full = composed?.entry ?? list;
      const entry = Object.keys(shape).length ? shaper.shape(full, shape) : full;
      return { entry, headers: composed ? detailHeader(composed) : {} };
    });
  });

  routes.get(PACKAGE_ROUTE, (c) => {
    const ref = packageRefParam.safeParse(c.req.param('ref'));
    if (!ref.success) throw new AppError('invalid_request', `path parameter 'ref': ${ref.error.issues[0]!.message}`);
    const scope = parseQuery(searchOf(c.req.url), scopeQuery).organization ?? PUBLIC;
    return answer(c, scope, () => deps.packages.get(ref.data, scope, deps.causeOf(c)));
  });

  routes.all(PACKAGES_ROUTE, methodNotAllowed);
  routes.all(PACKAGE_ROUTE, methodNotAllowed);
  return routes;
}

function methodNotAllowed(c: AppContext): never {
  c.header('allow', 'GET, HEAD');
  throw new AppError('method_not_allowed', `${c.req.method} is not allowed here; use GET`);
}

function searchOf(url: string): URLSearchParams {
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}
