import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refusalFor } from '../src/auth/middleware.js';
import { ConsumerKeys } from '../src/config/api-keys.js';
import { PUBLIC } from '../src/domain/scope.js';
import { ACME_KEY, OPS_KEY } from './support/keys.js';
import { FakeClock } from './support/clock.js';
import { startStack, type Stack } from './support/stack.js';

describe('one auth decision', () => {
  it('decides who may read what, whatever the surface', () => {
    const keys = ConsumerKeys.parse(`acme-app:${ACME_KEY}:acme`);
    const acme = keys.identify(ACME_KEY)!;
    const globex = { kind: 'sub_domain', value: 'globex' } as const;
    expect(refusalFor(null, PUBLIC, false)).toBeNull();
    expect(refusalFor(null, PUBLIC, true)).toEqual({ kind: 'key_required', scope: PUBLIC });
    expect(refusalFor(null, globex, false)).toEqual({ kind: 'key_required', scope: globex });
    expect(refusalFor(acme, { kind: 'sub_domain', value: 'acme' }, true)).toBeNull();
    expect(refusalFor(acme, PUBLIC, true)).toBeNull();
    expect(refusalFor(acme, globex, false)).toEqual({ kind: 'not_listed', scope: globex });
  });

  describe('said by each router in its own format', () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({ clock: new FakeClock(), env: { CONSUMER_BURST: '3', CONSUMER_RATE_PER_SECOND: '0.001' } });
    });
    afterAll(() => stack.close());

    const both = async (org: string, headers: Record<string, string>) => {
      const ours = await fetch(`${stack.urls[0]}/packages?organization=${org}`, { headers });
      const katapult = await fetch(`${stack.urls[0]}/core/v1/virtual_machine_packages?organization[sub_domain]=${org}`, { headers });
      return [`${ours.status} ${(await ours.json()).error?.code ?? 'ok'}`, `${katapult.status} ${(await katapult.json()).error?.code ?? 'ok'}`];
    };

    it('refuses the same requests on /packages and on the Katapult-compatible endpoint', async () => {
      expect(await both('acme', { 'x-api-key': 'not-a-key-of-anyone-here' })).toEqual(['401 unauthorized', '403 invalid_api_token']);
      expect(await both('acme', {})).toEqual(['401 unauthorized', '400 missing_api_token']);
      expect(await both('globex', { 'x-api-key': ACME_KEY })).toEqual(['403 forbidden', '403 scope_not_granted']);
      // Each surface holds a consumer to its own model: /packages to its bucket (3 here), the compatible
      // surface to its clock minute (0.001 × 60 a minute here, so 1).
      const ops = { authorization: `Bearer ${OPS_KEY}` };
      expect(await both('acme', ops)).toEqual(['200 ok', '200 ok']);
      expect(await both('acme', ops)).toEqual(['200 ok', '429 rate_limit_reached']);
      expect(await both('acme', ops)).toEqual(['200 ok', '429 rate_limit_reached']);
      expect(await both('acme', ops)).toEqual(['429 rate_limited', '429 rate_limit_reached']);
    });
  });

  it('states the consumer\'s limit on every answer, errors included: Katapult\'s per-minute headers, and RateLimit on /packages', async () => {
    // 0.05 a second: 3 a minute on the compatible surface, a bucket of 3 on /packages.
    const stack = await startStack({ clock: new FakeClock(), env: { CONSUMER_BURST: '3', CONSUMER_RATE_PER_SECOND: '0.05' } });
    try {
      const katapult = { authorization: `Bearer ${OPS_KEY}` };
      const base = `${stack.urls[0]}/core/v1/virtual_machine_packages`;
      const ok = await fetch(`${base}?per_page=1`, { headers: katapult });
      const missing = await fetch(`${base}/virtual_machine_package?virtual_machine_package[permalink]=nope`, { headers: katapult });
      const limited = await fetch(`${base}?per_page=1`, { headers: katapult });
      const refused = await fetch(`${base}?per_page=1`, { headers: katapult });
      const states = [ok, missing, limited, refused].map((r) => [r.status, r.headers.get('x-ratelimit-permitted'), r.headers.get('x-ratelimit-remaining')]);
      expect(states).toEqual([
        [200, '3', '2'],
        [404, '3', '1'],
        [200, '3', '0'],
        [429, '3', '0'],
      ]);
      expect((await refused.json()).error.detail).toEqual({ total_permitted: 3 });
      const notFound = await fetch(`${stack.urls[0]}/packages/nope-nope`, { headers: { 'x-api-key': ACME_KEY } });
      expect([notFound.status, notFound.headers.get('ratelimit')]).toEqual([404, expect.stringMatching(/^"consumer";r=2;t=\d+$/)]);
    } finally {
      await stack.close();
    }
  });
});
