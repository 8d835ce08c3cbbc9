import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asOps } from './support/keys.js';
import { startStack, type Stack } from './support/stack.js';

/** Real answers of the running service must validate against the document it serves. */
describe('OpenAPI document', () => {
  let stack: Stack;
  let url = '';
  let doc: any;
  beforeAll(async () => {
    stack = await startStack({ env: { CACHE_LIST_DETAILS: 'true' } });
    url = stack.urls[0]!;
    doc = await (await fetch(`${url}/openapi.json`)).json();
  });
  afterAll(() => stack.close());

  const validatorFor = (path: string, status: number) => {
    const schema = doc.paths[path].get.responses[status].content['application/json'].schema;
    return new Ajv2020({ strict: false }).compile({ ...schema, components: doc.components });
  };

  it('is OpenAPI 3.1 and documents every query parameter the route accepts', () => {
    expect(doc.openapi).toBe('3.1.0');
    const names = doc.paths['/packages'].get.parameters.map((p: { name: string }) => p.name);
    expect(names).toEqual(['organization', 'group', 'min_cpu_cores', 'min_memory_gb', 'min_storage_gb', 'min_bandwidth_gb', 'dedicated', 'privacy', 'sort', 'fields', 'group_by', 'complete']);
    expect(doc.paths['/packages/{ref}'].get.parameters.map((p: { name: string }) => p.name)).toEqual(['ref', 'organization']);
  });

  it.each([
    ['/packages', '/packages', 200, {}],
    ['/packages?organization=acme', '/packages', 200, asOps],
    ['/packages?fields=id,name&sort=-memoryGb', '/packages', 200, {}],
    ['/packages?complete=true', '/packages', 200, {}],
    ['/packages?organization=acme&group_by=group', '/packages', 200, asOps],
    ['/packages?group_by=group&fields=name,group', '/packages', 200, {}],
    ['/packages/rock-3', '/packages/{ref}', 200, {}],
    ['/packages/acme-dedi-64?organization=acme', '/packages/{ref}', 200, asOps],
    ['/packages/nope', '/packages/{ref}', 404, {}],
    ['/packages?sort=price', '/packages', 400, {}],
    ['/packages?organization=acme', '/packages', 401, {}],
  ])('%s validates as a %s %i answer', async (path, documented, status, headers) => {
    const res = await fetch(`${url}${path}`, { headers });
    expect(res.status).toBe(status);
    const validate = validatorFor(documented, status);
    const body = await res.json();
    expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
    if (documented === '/packages' && status === 200) expect(res.headers.get('x-packages-detail')).toMatch(new RegExp(doc.paths[documented].get.responses[200].headers['X-Packages-Detail'].schema.pattern));
  });

  it('rejects what the document does not allow (the check can fail)', () => {
    const validate = validatorFor('/packages/{ref}', 200);
    expect(validate({ package: { id: 'vmpkg_x', extra: true } })).toBe(false);
  });

  it('serves a docs page that reads the document, with nothing loaded from elsewhere', async () => {
    const html = await (await fetch(`${url}/docs`)).text();
    expect(html).toContain("fetch('openapi.json')");
    expect(html).not.toMatch(/https?:\/\//);
  });
});
