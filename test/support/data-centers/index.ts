import { Hono } from 'hono';
import { z } from 'zod';
import { cacheKey, keyPatterns } from '../../../src/cache/keys.js';
import { PUBLIC } from '../../../src/domain/scope.js';
import type { AppEnv } from '../../../src/http/context.js';
import { AppError } from '../../../src/http/errors.js';
import { KatapultError } from '../../../src/katapult-compat/surface.js';
import type { ResourceDefinition } from '../../../src/resource/resource.js';
import { PER_PAGE } from '../../../src/upstream/katapult-client.js';
import { getLoader, listLoader } from '../../../src/upstream/loaders.js';
import { text, wirePagination } from '../../../src/upstream/wire.js';

/**
 * A second cached resource, Katapult's data centers, written as a resource's folder is: its wire schema
 * and requests, its mapping, its key space, its loaders on the engine, its routes, its compatible
 * endpoints and its fast path, all through the `ResourceDefinition` contract. Public data only.
 */

// Wire: what the data-center endpoints send.
const wireDataCenter = z.object({ id: z.string().min(1).max(128), name: text(255), permalink: text(255) });
type WireDataCenter = z.output<typeof wireDataCenter>;
const listPage = z
  .object({ pagination: wirePagination, data_centers: z.array(wireDataCenter).max(PER_PAGE) })
  .transform((p) => ({ pagination: p.pagination, items: p.data_centers }));
const getBody = z.object({ data_center: wireDataCenter }).transform((b) => b.data_center);

// Mapping: this service's representation.
interface DataCenter {
  id: string;
  name: string | null;
  permalink: string | null;
}
const toDataCenter = (w: WireDataCenter): DataCenter => ({ id: w.id, name: w.name, permalink: w.permalink });

// Keys: its own namespaces.
export const LIST_KEY = cacheKey('dc-list', PUBLIC);
const REF = /^(dc_[A-Za-z0-9]{1,64}|[a-z0-9][a-z0-9-]{0,63})$/;
const lookupOf = (ref: string) => (ref.startsWith('dc_') ? { by: 'id', value: ref } : { by: 'permalink', value: ref });
const itemKey = (ref: string) => {
  const { by, value } = lookupOf(ref);
  return cacheKey('dc', PUBLIC, `${by}=${value}`);
};

export const dataCentersResource: ResourceDefinition = {
  notFound: { data_center_not_found: { message: 'no data center matches this id or permalink', katapult: 'No data center was found matching any of the criteria provided in the arguments' } },
  create({ engine, client, kit }) {
    const list = listLoader(client, { endpoint: 'dc_list', path: '/data_centers', params: new URLSearchParams(), page: listPage }, 'dataCenters', toDataCenter);
    const get = (ref: string) => {
      const { by, value } = lookupOf(ref);
      return getLoader({
        fetch: (ifNoneMatch, cause) =>
          client.get({ endpoint: 'dc_get', path: '/data_centers/data_center', params: new URLSearchParams({ [`data_center[${by}]`]: value }), schema: getBody }, ifNoneMatch, cause),
        field: 'dataCenter',
        map: toDataCenter,
      });
    };
    const refOf = (ref: string) => {
      if (!REF.test(ref)) throw new AppError('invalid_request', "path parameter 'ref': must be a data center id (dc_…) or a permalink");
      return ref;
    };

    const routes = new Hono<AppEnv>();
    routes.use('/data-centers/*', kit.auth);
    routes.get('/data-centers', (c) => kit.answer(c, PUBLIC, () => engine.resolve(LIST_KEY, list, kit.causeOf(c))));
    routes.get('/data-centers/:ref', (c) => {
      const ref = refOf(c.req.param('ref'));
      return kit.answer(c, PUBLIC, () => engine.resolve(itemKey(ref), get(ref), kit.causeOf(c)));
    });
    routes.all('/data-centers', kit.methodNotAllowed);
    routes.all('/data-centers/:ref', kit.methodNotAllowed);

    return {
      routes,
      compat(compat, surface) {
        compat.get('/core/v1/data_centers', (c) =>
          surface.answer(c, async () => {
            const entry = surface.found(await engine.resolve(LIST_KEY, list, kit.causeOf(c)));
            return JSON.stringify({ data_centers: (JSON.parse(entry.body) as { dataCenters: DataCenter[] }).dataCenters });
          }),
        );
        compat.get('/core/v1/data_centers/data_center', (c) =>
          surface.answer(c, async () => {
            const q = new URL(c.req.url).searchParams;
            const ref = q.get('data_center[id]') ?? q.get('data_center[permalink]') ?? '';
            if (!REF.test(ref)) throw new KatapultError('data_center_not_found');
            const entry = surface.found(await engine.resolve(itemKey(ref), get(ref), kit.causeOf(c)));
            return JSON.stringify({ data_center: (JSON.parse(entry.body) as { dataCenter: DataCenter }).dataCenter });
          }),
        );
      },
      document: () => undefined,
      purgePatterns: async (target) => ('all' in target ? [...keyPatterns('dc-list', target), ...keyPatterns('dc', target)] : []),
      fastKeys: (url) => (url === '/data-centers' ? { key: LIST_KEY, route: '/data-centers' } : null),
    };
  },
};
