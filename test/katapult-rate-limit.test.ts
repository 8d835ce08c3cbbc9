import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { katapultEtag } from '../src/katapult-compat/envelope.js';
import { nextMinuteAt } from '../src/domain/clock.js';
import { FakeClock } from './support/clock.js';
import { ACME_KEY, OPS_KEY } from './support/keys.js';
import { cleanRedisUrl } from './support/redis.js';
import { redisReady, startStack, type Stack } from './support/stack.js';

/** What the real clients sent Katapult (shared/katapult/recorded): the Terraform provider's go-katapult, both get forms. */
interface Recorded {
  request: { url: string; headers: Record<string, string[]> };
  response: { code: number; body: string; headers: Record<string, string[]> };
}
const recorded = (JSON.parse(readFileSync('../shared/katapult/recorded/vm-package-get-interactions-2024-2026.json', 'utf8')) as { interactions: Recorded[] }).interactions;

const limitOf = (res: Response) => [res.headers.get('x-ratelimit-permitted'), res.headers.get('x-ratelimit-remaining')];

/**
 * Katapult's model (FACTS.md, Rate limits): so many requests per clock minute, `Remaining` what is left of
 * them, the first answer of a minute saying Permitted - 1. Two instances share one Redis, so the count is
 * the fleet's. CONSUMER_RATE_PER_SECOND=2 permits 120 a minute.
 */
describe("the compatible surface's rate-limit headers", () => {
  const clock = new FakeClock();
  let stack: Stack;
  let base = '';
  const ops = { authorization: `Bearer ${OPS_KEY}` };
  beforeAll(async () => {
    stack = await startStack({ clock, instances: 2, redisUrl: await cleanRedisUrl(), env: { CONSUMER_RATE_PER_SECOND: '2' } });
    await redisReady(stack);
    base = `${stack.urls[0]}/core/v1`;
  });
  afterAll(() => stack.close());
  // Each test in a minute of its own, 5 s into it.
  beforeEach(() => clock.set(nextMinuteAt(clock.now()) + 5_000));

  it("answers the recorded real-client requests as Katapult did, each counted down from Permitted - 1 in the minute", async () => {
    expect(recorded.length).toBeGreaterThanOrEqual(10);
    for (const [i, r] of recorded.entries()) {
      const path = r.request.url.replace('https://api.katapult.io/core/v1', '');
      const headers = Object.fromEntries(Object.entries(r.request.headers).map(([k, v]) => [k, v.join(', ')]));
      const res = await fetch(`${stack.urls[i % 2]}/core/v1${path}`, { headers: { ...headers, ...ops } });
      const body = await res.text();
      expect([path, res.status]).toEqual([path, r.response.code]);
      expect(JSON.parse(body).virtual_machine_package.id).toBe(JSON.parse(r.response.body).virtual_machine_package.id);
      expect(res.headers.get('etag')).toBe(katapultEtag(body));
      expect(res.headers.get('cache-control')).toBe(r.response.headers['Cache-Control']![0]);
      expect(res.headers.get('vary')).toBe(r.response.headers.Vary![0]);
      expect(limitOf(res)).toEqual(['120', String(120 - i - 1)]);
    }
  });

  it('states the limit on every answer to a request with a credential, whatever its status, and on none without one', async () => {
    const list = '/virtual_machine_packages';
    const keyed: Array<[string, Record<string, string>, number, string | null]> = [
      [`${list}?per_page=1`, ops, 200, null],
      [`${list}/virtual_machine_package?virtual_machine_package[permalink]=nope`, ops, 404, 'package_not_found'],
      [`${list}?page=0`, ops, 400, 'invalid_argument'],
      [`${list}?organization[sub_domain]=globex`, { 'x-api-key': ACME_KEY }, 403, 'scope_not_granted'],
      ['/data_centers', ops, 404, 'route_not_found'],
      ['/virtual_machines/vm_abc', { 'x-api-key': ACME_KEY }, 404, 'route_not_found'],
    ];
    const counted = new Map<string, number>();
    for (const [path, headers, status, code] of keyed) {
      const res = await fetch(`${base}${path}`, { headers });
      expect([path, res.status, code ? (await res.json()).error.code : 'ok']).toEqual([path, status, code ?? 'ok']);
      const who = JSON.stringify(headers);
      counted.set(who, (counted.get(who) ?? 0) + 1);
      expect([path, ...limitOf(res)]).toEqual([path, '120', String(120 - counted.get(who)!)]);
    }
    // A credential that names nobody is counted by the caller's address: a guesser is told its limit too.
    const unidentified: Array<[Record<string, string>, number, string]> = [
      [{ authorization: 'Bearer not-a-key-of-anyone-here' }, 403, 'invalid_api_token'],
      [{ 'x-api-key': 'another-made-up-key-0000' }, 403, 'invalid_api_token'],
      [{ authorization: 'Basic b3BzOnNlY3JldA==' }, 400, 'missing_api_token'],
    ];
    for (const [i, [headers, status, code]] of unidentified.entries()) {
      const res = await fetch(`${base}${list}?organization[sub_domain]=acme`, { headers });
      expect([res.status, (await res.json()).error.code]).toEqual([status, code]);
      expect(limitOf(res)).toEqual(['120', String(120 - i - 1)]);
    }
    // Anonymous: no limit of its own, so no headers (its upstream calls are held to its address's share).
    for (const path of [`${list}?per_page=1`, `${list}?organization[sub_domain]=acme`, '/data_centers']) {
      const res = await fetch(`${base}${path}`);
      expect([path, ...limitOf(res)]).toEqual([path, null, null]);
    }
  });

  it('serves exactly what 150 concurrent requests were promised: never a 429 while Remaining said more, never a 200 after it said 0', async () => {
    await (await fetch(`${base}/virtual_machine_packages?per_page=5`, { headers: { 'x-api-key': ACME_KEY } })).arrayBuffer(); // warm, by another consumer
    const answers = await Promise.all(
      Array.from({ length: 150 }, async (_, i) => {
        const res = await fetch(`${stack.urls[i % 2]}/core/v1/virtual_machine_packages?per_page=5`, { headers: ops });
        const body = await res.json();
        return { status: res.status, permitted: res.headers.get('x-ratelimit-permitted'), remaining: Number(res.headers.get('x-ratelimit-remaining')), body };
      }),
    );
    const served = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    expect([served.length, refused.length]).toEqual([120, 30]);
    expect(new Set(answers.map((a) => a.permitted))).toEqual(new Set(['120']));
    // Each 200 told of what was left after it: together, every count from 119 down to 0, once.
    expect(served.map((a) => a.remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    for (const r of refused) {
      expect(r.remaining).toBe(0);
      expect(r.body.error).toEqual({ code: 'rate_limit_reached', description: expect.any(String), detail: { total_permitted: 120 } });
    }
    // The next minute starts afresh, as Katapult's does at :00.
    clock.set(nextMinuteAt(clock.now()));
    const next = await fetch(`${base}/virtual_machine_packages?per_page=5`, { headers: ops });
    expect([next.status, ...limitOf(next)]).toEqual([200, '120', '119']);
  });
});

describe('past its share of upstream calls', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ clock: new FakeClock(), env: { CONSUMER_RATE_PER_SECOND: '20', CONSUMER_UPSTREAM_PER_MINUTE: '1', CACHE_LIST_DETAILS: 'false' } });
  });
  afterAll(() => stack.close());

  it("a consumer meets Katapult's 429: the share it reached as total_permitted, and Remaining 0", async () => {
    const ops = { authorization: `Bearer ${OPS_KEY}` };
    const first = await fetch(`${stack.urls[0]}/core/v1/virtual_machine_packages?organization[sub_domain]=acme`, { headers: ops });
    expect(first.status).toBe(200);
    const past = await fetch(`${stack.urls[0]}/core/v1/virtual_machine_packages?organization[sub_domain]=initech`, { headers: ops });
    expect([past.status, ...limitOf(past)]).toEqual([429, '1200', '0']);
    expect((await past.json()).error).toEqual({ code: 'rate_limit_reached', description: expect.any(String), detail: { total_permitted: 1 } });
    // What is cached is still served, and says what is left of the request limit.
    const cached = await fetch(`${stack.urls[0]}/core/v1/virtual_machine_packages?organization[sub_domain]=acme`, { headers: ops });
    expect([cached.status, ...limitOf(cached)]).toEqual([200, '1200', '1197']);
  });
});
