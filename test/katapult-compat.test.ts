import { codedEtag } from '../src/http/compression.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, OPS_KEY } from './support/keys.js';
import { startStack, type Stack } from './support/stack.js';

/**
 * A Katapult client pointed at this service must see what it sees from Katapult. The simulator answers
 * as the real API does (FACTS.md), so for the same request our bytes must equal the simulator's.
 */
describe('Katapult-compatible endpoint', () => {
  let stack: Stack;
  let base = '';
  // Undici's fetch asks for gzip unless told otherwise, and undoes the coding.
  const viaUs = (path: string, headers: Record<string, string> = {}) => fetch(`${base}/core/v1${path}`, { headers });
  const viaKatapult = (path: string) => fetch(`${stack.upstreamUrl}${path}`, { headers: { authorization: `Bearer ${stack.sim.token}` } });

  beforeAll(async () => {
    stack = await startStack();
    base = stack.urls[0]!;
  });
  afterAll(() => stack.close());

  it.each([
    '/virtual_machine_packages',
    '/virtual_machine_packages?page=2&per_page=7',
    '/virtual_machine_packages?per_page=200',
    '/virtual_machine_packages?page=9&per_page=5',
    '/virtual_machine_packages/virtual_machine_package?virtual_machine_package%5Bpermalink%5D=rock-3',
    '/virtual_machine_packages/_?virtual_machine_package%5Bid%5D=vmpkg_Eh5LYVKScVHpj7sM',
    '/virtual_machine_packages/vmpkg_Xr1hcf7e1oZYZMkK',
  ])('answers %s with the same bytes and ETag as Katapult', async (path) => {
    const ours = await viaUs(path, { 'accept-encoding': 'identity' });
    const theirs = await viaKatapult(path);
    const text = await theirs.text();
    expect(ours.status).toBe(200);
    expect(await ours.text()).toBe(text);
    expect(ours.headers.get('etag')).toBe(theirs.headers.get('etag'));
    expect(ours.headers.get('cache-control')).toBe('max-age=0, private, must-revalidate');
    expect(ours.headers.get('vary')).toBe('Accept-Encoding');
    // Compressed, the same JSON under the coding's own ETag (the large ones only).
    const gzipped = await viaUs(path, { 'accept-encoding': 'gzip' });
    expect(await gzipped.text()).toBe(text);
    const coding = text.length >= 1024 ? 'gzip' : 'identity';
    expect([gzipped.headers.get('content-encoding') ?? 'identity', gzipped.headers.get('etag')]).toEqual([coding, codedEtag(theirs.headers.get('etag')!, coding)]);
  });

  it('answers an organization list with a key that may read it, from the same cache as /packages', async () => {
    const path = '/virtual_machine_packages?organization%5Bsub_domain%5D=acme&per_page=50';
    const ours = await viaUs(path, { authorization: `Bearer ${ACME_KEY}` });
    expect(await ours.text()).toBe(await (await viaKatapult(path)).text());
    const before = stack.sim.count();
    const mine = await fetch(`${base}/packages?organization=acme`, { headers: { 'x-api-key': ACME_KEY } });
    expect(mine.headers.get('x-cache')).toBe('HIT');
    expect(stack.sim.count()).toBe(before);
  });

  it('revalidates with If-None-Match like Katapult', async () => {
    const first = await viaUs('/virtual_machine_packages/virtual_machine_package?virtual_machine_package%5Bpermalink%5D=rock-6');
    const again = await viaUs('/virtual_machine_packages/virtual_machine_package?virtual_machine_package%5Bpermalink%5D=rock-6', {
      'if-none-match': first.headers.get('etag')!,
    });
    expect(again.status).toBe(304);
  });

  it.each([
    ['/virtual_machine_packages?organization%5Bid%5D=a&organization%5Bsub_domain%5D=b', {}, 400, 'invalid_argument'],
    ['/virtual_machine_packages?per_page=201', {}, 400, 'invalid_argument'],
    ['/virtual_machine_packages?page=x', {}, 400, 'invalid_argument'],
    ['/virtual_machine_packages/_', {}, 404, 'package_not_found'],
    ['/virtual_machine_packages/virtual_machine_package?virtual_machine_package%5Bpermalink%5D=nope', {}, 404, 'package_not_found'],
    ['/virtual_machine_packages?organization%5Bsub_domain%5D=acme', {}, 400, 'missing_api_token'],
    ['/virtual_machine_packages?organization%5Bsub_domain%5D=globex', { authorization: `Bearer ${ACME_KEY}` }, 403, 'scope_not_granted'],
    ['/virtual_machine_packages', { authorization: 'Bearer the-real-katapult-token?' }, 403, 'invalid_api_token'],
    ['/virtual_machine_packages?organization%5Bsub_domain%5D=no-such-org', { authorization: `Bearer ${OPS_KEY}` }, 404, 'organization_not_found'],
    ['/virtual_machines', {}, 404, 'route_not_found'],
    ['/organizations/_/virtual_machines', {}, 404, 'route_not_found'],
  ])('%s → %i %s in the wrapped envelope', async (path, headers, status, code) => {
    const res = await viaUs(path, headers);
    expect(res.status).toBe(status);
    expect(res.headers.get('x-api-schema')).toBe('json-error');
    expect(await res.json()).toEqual({ error: { code, description: expect.any(String), detail: expect.any(Object) } });
  });

  it('never passes a request through to Katapult', async () => {
    const before = stack.sim.count();
    await viaUs('/virtual_machines/_?virtual_machine%5Bid%5D=vm_x', { authorization: `Bearer ${OPS_KEY}` });
    await fetch(`${base}/core/v1/virtual_machine_packages`, { method: 'POST', headers: { authorization: `Bearer ${OPS_KEY}` } });
    expect(stack.sim.count()).toBe(before);
  });

  it('finds a private package for a key that lists its organization, and hides it from others', async () => {
    const path = '/virtual_machine_packages/_?virtual_machine_package%5Bpermalink%5D=acme-tiny-2';
    expect((await viaUs(path, { authorization: `Bearer ${ACME_KEY}` })).status).toBe(200);
    expect((await viaUs(path)).status).toBe(404);
  });
});
