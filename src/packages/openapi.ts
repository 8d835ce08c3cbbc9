import { z } from '@hono/zod-openapi';
import { doc, type OpenAPIRegistry } from '../http/openapi.js';
import { listQuery, scopeQuery } from './params.js';
import { packageAnswerSchema, packageGroupsSchema, packageListSchema } from './schemas.js';

/** The packages' paths in `/openapi.json`, from the zod schemas their routes validate requests with. */
export function documentPackages(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/packages',
    summary: "Every package visible in a scope, in Katapult's order",
    request: { query: listQuery },
    security: doc.security,
    responses: withDetailHeader(doc.responses(doc.json(z.union([packageListSchema, packageGroupsSchema]), 'The packages, or their groups with group_by=group'))),
  });
  registry.registerPath({
    method: 'get',
    path: '/packages/{ref}',
    summary: 'One package by id (vmpkg_…) or permalink',
    request: {
      params: z.object({ ref: z.string().meta({ description: 'A package id (vmpkg_…) or a permalink', example: 'rock-3' }) }),
      query: scopeQuery,
    },
    security: doc.security,
    responses: doc.responses(doc.json(packageAnswerSchema, 'The package')),
  });

}

/** A list answer also says how complete it is. */
function withDetailHeader<R extends { 200: { headers: Record<string, unknown> } }>(responses: R): R {
  responses[200].headers = {
    ...responses[200].headers,
    'X-Packages-Detail': {
      description: "known/total: how many of the list's packages had their detail (group, bandwidth, dedicated CPUs) known when the answer was built",
      schema: { type: 'string', pattern: '^[0-9]+/[0-9]+$' },
    },
  };
  return responses;
}
