import { OpenAPIHono, z } from '@hono/zod-openapi';
import { listQuery, scopeQuery } from './params.js';
import { errorSchema, packageAnswerSchema, packageListSchema } from './schemas.js';
import type { AppEnv } from '../http/context.js';
import { ERROR_STATUS } from '../http/errors.js';

/**
 * `/openapi.json`: the consumer API as OpenAPI 3.1, generated from the zod schemas the routes validate
 * requests with (`packages/params.ts`) and the response schemas (`packages/schemas.ts`); `/docs` renders it.
 */
export function openApiRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  const registry = app.openAPIRegistry;
  registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'A consumer API key' });
  registry.registerComponent('securitySchemes', 'apiKey', { type: 'apiKey', in: 'header', name: 'X-Api-Key' });

  const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
  const cacheHeaders = {
    ETag: { description: 'Strong ETag of the representation', schema: { type: 'string' as const } },
    'X-Cache': { description: 'HIT, MISS, STALE or REVALIDATED', schema: { type: 'string' as const, enum: ['HIT', 'MISS', 'STALE', 'REVALIDATED'] } },
    Age: { description: 'Seconds since the entry was fetched from Katapult', schema: { type: 'integer' as const } },
  };
  const byStatus = new Map<number, string[]>();
  for (const [code, status] of Object.entries(ERROR_STATUS)) byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  const responses = (ok: ReturnType<typeof json>) => ({
    200: { ...ok, headers: cacheHeaders },
    304: { description: 'Not modified: If-None-Match names the current representation', headers: cacheHeaders },
    ...Object.fromEntries([...byStatus].map(([status, codes]) => [status, json(errorSchema, codes.join(', '))])),
  });
  // Anonymous for public packages (unless AUTH_REQUIRED), a key for an organization's.
  const security: Array<Record<string, string[]>> = [{}, { bearer: [] }, { apiKey: [] }];

  registry.registerPath({
    method: 'get',
    path: '/packages',
    summary: "Every package visible in a scope, in Katapult's order",
    request: { query: listQuery },
    security,
    responses: responses(json(packageListSchema, 'The packages')),
  });
  registry.registerPath({
    method: 'get',
    path: '/packages/{ref}',
    summary: 'One package by id (vmpkg_…) or permalink',
    request: {
      params: z.object({ ref: z.string().meta({ description: 'A package id (vmpkg_…) or a permalink', example: 'rock-3' }) }),
      query: scopeQuery,
    },
    security,
    responses: responses(json(packageAnswerSchema, 'The package')),
  });

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'katapult-bff', version: '1', description: 'Katapult virtual machine packages behind a cache that protects the token and its rate limit.' },
  });
  app.get('/docs', (c) => c.html(DOCS_PAGE));
  return app;
}

/** A self-contained page (no CDN: it must work where nothing outside is reachable) that lists the API. */
const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>katapult-bff API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}code,pre{background:#f4f4f4;padding:.1rem .3rem}
h2{margin-top:2rem;border-bottom:1px solid #ddd}td,th{text-align:left;padding:.2rem .6rem;vertical-align:top}</style></head>
<body><h1>katapult-bff API</h1><p>Machine-readable: <a href="openapi.json">openapi.json</a> (OpenAPI 3.1).</p><div id="api">Loading…</div>
<script>
fetch('openapi.json').then(r => r.json()).then(doc => {
  const esc = s => String(s ?? '').replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
  let html = '<p>' + esc(doc.info.description) + '</p>';
  for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) {
    html += '<h2><code>' + method.toUpperCase() + ' ' + esc(path) + '</code></h2><p>' + esc(op.summary) + '</p><table><tr><th>parameter</th><th>in</th><th>description</th></tr>';
    for (const p of op.parameters ?? []) html += '<tr><td><code>' + esc(p.name) + '</code></td><td>' + esc(p.in) + '</td><td>' + esc(p.description ?? p.schema?.description) + '</td></tr>';
    html += '</table><p>Responses: ' + Object.entries(op.responses).map(([s, r]) => '<b>' + s + '</b> ' + esc(r.description)).join('; ') + '</p>';
  }
  document.getElementById('api').innerHTML = html;
});
</script></body></html>`;
