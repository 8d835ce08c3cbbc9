import { OpenAPIHono, z } from '@hono/zod-openapi';
import { strongEtag } from '../cache/entry.js';
import type { Compressor } from './compression.js';
import type { AppContext, AppEnv } from './context.js';
import { ERROR_STATUS } from './errors.js';
import { send, VARY } from './respond.js';

export const errorSchema = z
  .object({
    error: z
      .object({
        code: z.string().meta({ example: 'package_not_found' }),
        message: z.string(),
        requestId: z.string(),
      })
      .strict(),
  })
  .strict()
  .meta({ id: 'Error' });

/** The document's registry, where each resource adds its paths. */
export type OpenAPIRegistry = OpenAPIHono<AppEnv>['openAPIRegistry'];

/** What every resource's paths share in the document: JSON bodies, the caching headers, every error, who may call. */
export const doc = {
  json: (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } }),
  /** The answers of a cached GET: its 200, the 304 of a matching If-None-Match, and every error status. */
  responses(ok: { description: string; content: Record<string, { schema: z.ZodType }> }) {
    const cacheHeaders = {
      ETag: { description: 'Strong ETag of the representation', schema: { type: 'string' as const } },
      'X-Cache': { description: 'HIT, MISS, STALE or REVALIDATED', schema: { type: 'string' as const, enum: ['HIT', 'MISS', 'STALE', 'REVALIDATED'] } },
      Age: { description: 'Seconds since the entry was fetched from Katapult', schema: { type: 'integer' as const } },
    };
    const byStatus = new Map<number, string[]>();
    for (const [code, status] of Object.entries(ERROR_STATUS)) byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
    return {
      200: { ...ok, headers: cacheHeaders },
      304: { description: 'Not modified: If-None-Match names the current representation', headers: cacheHeaders },
      ...Object.fromEntries([...byStatus].map(([status, codes]) => [status, doc.json(errorSchema, codes.join(', '))])),
    };
  },
  /** Anonymous for public items (unless AUTH_REQUIRED), a key for an organization's. */
  security: [{}, { bearer: [] }, { apiKey: [] }] as Array<Record<string, string[]>>,
};

/**
 * `/openapi.json`: the consumer API as OpenAPI 3.1, generated from the zod schemas the routes validate
 * requests with; each resource adds its paths (`document`). `/docs` renders it. Both are made once, with
 * an ETag, and sent in the coding the client accepts like every cached answer.
 */
export function openApiRoutes(documents: Array<(registry: OpenAPIRegistry) => void>, compressor: Compressor): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  const registry = app.openAPIRegistry;
  registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'A consumer API key' });
  registry.registerComponent('securitySchemes', 'apiKey', { type: 'apiKey', in: 'header', name: 'X-Api-Key' });
  for (const document of documents) document(registry);
  let json: { body: string; etag: string } | undefined;
  const answer = (c: AppContext, body: string, etag: string, type: string) =>
    send(c, compressor.represent(body, etag, { 'cache-control': 'public, max-age=60', vary: VARY }, c.req.header('accept-encoding'), c.req.header('if-none-match'), type));
  app.get('/openapi.json', (c) => {
    if (!json) {
      const body = JSON.stringify(
        app.getOpenAPI31Document({
          openapi: '3.1.0',
          info: { title: 'katapult-bff', version: '1', description: 'Katapult virtual machine packages behind a cache that protects the token and its rate limit.' },
        }),
      );
      json = { body, etag: strongEtag(body) };
    }
    return answer(c, json.body, json.etag, 'application/json; charset=utf-8');
  });
  app.get('/docs', (c) => answer(c, DOCS_PAGE, DOCS_ETAG, 'text/html; charset=utf-8'));
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
const DOCS_ETAG = strongEtag(DOCS_PAGE);
