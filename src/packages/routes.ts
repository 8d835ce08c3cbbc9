import { Hono } from 'hono';
import type { CacheEngine } from '../cache/engine.js';
import { PUBLIC } from '../domain/scope.js';
import { packageRefParam } from './ref.js';
import type { AppEnv } from '../http/context.js';
import { AppError } from '../http/errors.js';
import { parseQuery, searchOf } from '../http/query.js';
import type { RouteKit } from '../resource/route-kit.js';
import { detailHeader, type ListDetails } from './details.js';
import { ListShaper } from './list-query.js';
import { listQuery, scopeQuery } from './params.js';
import type { PackageService } from './service.js';

/** The route patterns, also the `route` label of metrics and request lines. */
export const PACKAGES_ROUTE = '/packages';
export const PACKAGE_ROUTE = '/packages/:ref';

/** `GET /packages` and `GET /packages/{ref}`: the simplified API for internal services and the frontend. */
export interface PackageRoutesDeps {
  kit: RouteKit;
  packages: PackageService;
  /** Null with CACHE_LIST_DETAILS=false: lists carry Katapult's list fields only. */
  details: ListDetails | null;
  /** Where shaped answers are kept, within L1's byte bound. */
  engine: CacheEngine;
}

/** How long `?complete=true` waits for missing details before answering with what it has. */
const COMPLETE_WAIT_MS = 3000;

export function packageRoutes(deps: PackageRoutesDeps): Hono<AppEnv> {
  const { kit } = deps;
  const routes = new Hono<AppEnv>();
  routes.use(`${PACKAGES_ROUTE}/*`, kit.auth);
  const shaper = new ListShaper(deps.engine);

  routes.get(PACKAGES_ROUTE, (c) => {
    const { organization, complete, ...shape } = parseQuery(searchOf(c.req.url), listQuery);
    const scope = organization ?? PUBLIC;
    const cause = kit.causeOf(c);
    return kit.answer(c, scope, () => deps.packages.list(scope, cause), async (list) => {
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
    return kit.answer(c, scope, () => deps.packages.get(ref.data, scope, kit.causeOf(c)));
  });

  routes.all(PACKAGES_ROUTE, kit.methodNotAllowed);
  routes.all(PACKAGE_ROUTE, kit.methodNotAllowed);
  return routes;
}
