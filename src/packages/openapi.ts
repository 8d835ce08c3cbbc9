import { z } from '@hono/zod-openapi';
import { doc, type OpenAPIRegistry } from '../http/openapi.js';
import { listQuery, scopeQuery } from './params.js';
import { packageAnswerSchema, packageListSchema } from './schemas.js';

/** The packages' paths in `/openapi.json`, from the zod schemas their routes validate requests with. */
export function documentPackages(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/packages',
    summary: "Every package visible in a scope, in Katapult's order",
    request: { query: listQuery },
    security: doc.security,
    responses: doc.responses(doc.json(packageListSchema, 'The packages')),
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
