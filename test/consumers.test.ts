import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsumerKeys } from '../src/config/api-keys.js';
import { loadConfig } from '../src/config/config.js';
import { captureLogs } from './support/logs.js';
import { ACME_KEY, OPS_KEY } from './support/keys.js';
import { cleanRedisUrl } from './support/redis.js';
import { redisReady, startStack, type Stack } from './support/stack.js';

describe('API_KEYS', () => {
  it('parses names, plain and sha256= keys and scopes', () => {
    const digest = createHash('sha256').update('web-key-0123456789abcdef').digest('hex');
    const keys = ConsumerKeys.parse(`billing:bill-key-0123456789abcdef:acme|org_abc, web:sha256=${digest}:*`);
    expect(keys.identify('web-key-0123456789abcdef')).toEqual({ name: 'web', scopes: '*' });
    expect(keys.identify('bill-key-0123456789abcdef')).toEqual({ name: 'billing', scopes: new Set(['acme', 'org_abc']) });
    expect(keys.identify('nope-nope-nope-nope')).toBeNull();
  });

  it.each([
    ['a:b', /API_KEYS: entry 1 must be name:key:scopes/],
    ['ok:0123456789abcdef0:*,bad name:0123456789abcdef0:*', /entry 2: the name/],
    ['a:short:*', /entry 1: the key must be at least 16 characters/],
    ['a:sha256=abc:*', /64 hex digits/],
    ['a:0123456789abcdef0:Not A Scope', /scope "Not A Scope"/],
    ['a:0123456789abcdef0:*,a:0123456789abcdef1:*', /used twice/],
  ])('rejects %j with a message naming the entry, not the key', (spec, message) => {
    const run = () => loadConfig({ KATAPULT_API_TOKEN: 't', API_KEYS: spec });
    expect(run).toThrowError(message);
    try {
      run();
    } catch (err) {
      expect((err as Error).message).not.toContain('0123456789abcdef');
    }
  });

  it('reads API_KEYS_FILE', () => {
    const c = loadConfig({ KATAPULT_API_TOKEN: 't', API_KEYS_FILE: '/run/secrets/keys' }, { readFile: () => `x:${OPS_KEY}:*\n` });
    expect(c.consumerKeys.identify(OPS_KEY)?.name).toBe('x');
  });
});

describe('consumers over HTTP', () => {
  let stack: Stack;
  const logs = captureLogs();
  afterEach(() => stack?.close());

  const start = async (env: Record<string, string> = {}, redisUrl?: string, instances = 1) => {
    stack = await startStack({ env, logger: logs.logger, redisUrl, instances });
    if (redisUrl) await redisReady(stack);
    return stack.urls[0]!;
  };

  it('lets anyone read public packages, and only a key listing the organization read its packages', async () => {
    const url = await start();
    expect((await fetch(`${url}/packages`)).status).toBe(200);
    const anonymous = await fetch(`${url}/packages?organization=acme`);
    expect([anonymous.status, anonymous.headers.get('www-authenticate')]).toEqual([401, 'Bearer']);
    expect((await fetch(`${url}/packages?organization=acme`, { headers: { 'x-api-key': ACME_KEY } })).status).toBe(200);
    expect((await fetch(`${url}/packages?organization=org_Ac7meCoRp0rat10n`, { headers: { authorization: `Bearer ${ACME_KEY}` } })).status).toBe(200);
    const other = await fetch(`${url}/packages?organization=globex`, { headers: { 'x-api-key': ACME_KEY } });
    expect([other.status, (await other.json()).error.code]).toEqual([403, 'forbidden']);
    expect((await fetch(`${url}/packages/acme-tiny-2?organization=globex`, { headers: { 'x-api-key': ACME_KEY } })).status).toBe(403);
    const unknown = await fetch(`${url}/packages`, { headers: { 'x-api-key': 'not-a-key-at-all-000' } });
    expect([unknown.status, (await unknown.json()).error.code]).toEqual([401, 'unauthorized']);
  });

  it('requires a key everywhere with AUTH_REQUIRED=true, and logs the consumer by name, never the key, even one put in a URL', async () => {
    logs.lines.length = 0;
    const url = await start({ AUTH_REQUIRED: 'true' });
    expect((await fetch(`${url}/packages`)).status).toBe(401);
    expect((await fetch(`${url}/packages`, { headers: { authorization: `Bearer ${OPS_KEY}` } })).status).toBe(200);
    expect((await fetch(`${url}/packages`, { headers: { authorization: `Bearer ${OPS_KEY}` } })).headers.get('x-cache')).toBe('HIT');
    // A key put in a URL by mistake, as sent and percent-encoded, is logged as [key].
    expect((await fetch(`${url}/packages/${OPS_KEY}`, { headers: { authorization: `Bearer ${OPS_KEY}` } })).status).toBe(404);
    expect((await fetch(`${url}/core/v1/virtual_machine_packages/${encodeURIComponent(OPS_KEY).replace('-', '%2D')}`)).status).toBe(404);
    const lines = logs.parsed().filter((l) => l.msg === 'request');
    expect(lines.map((l) => [l.status, l.consumer])).toEqual([[401, undefined], [200, 'ops'], [200, 'ops'], [404, 'ops'], [404, undefined]]);
    expect(lines.slice(3).map((l) => l.path)).toEqual(['/packages/[key]', '/core/v1/virtual_machine_packages/[key]']);
    expect(logs.lines.join('\n')).not.toContain(OPS_KEY);
    expect((await fetch(`${url}/healthz`)).status).toBe(200); // health needs no key
  });

  it('limits each consumer with a token bucket shared by every instance, and says so in RateLimit headers', async () => {
    const redisUrl = await cleanRedisUrl();
    await start({ CONSUMER_BURST: '3', CONSUMER_RATE_PER_SECOND: '0.01' }, redisUrl, 2);
    const [a, b] = stack.urls;
    const asAcme = { headers: { 'x-api-key': ACME_KEY } };
    const statuses = [];
    for (const u of [a, b, a]) statuses.push((await fetch(`${u}/packages`, asAcme)).status);
    expect(statuses).toEqual([200, 200, 200]);
    const limited = await fetch(`${b}/packages`, asAcme);
    expect(limited.status).toBe(429);
    expect((await limited.json()).error.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('ratelimit-policy')).toBe('"consumer";q=3;w=300');
    expect(limited.headers.get('ratelimit')).toMatch(/^"consumer";r=0;t=\d+$/);
    // another consumer has its own bucket
    expect((await fetch(`${a}/packages`, { headers: { 'x-api-key': OPS_KEY } })).status).toBe(200);
  });

  describe('CORS', () => {
    it('answers a preflight from an allowed origin without touching cache or upstream', async () => {
      const url = await start({ CORS_ORIGINS: 'https://app.example.com,http://localhost:5173' });
      const pre = await fetch(`${url}/packages?organization=acme`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization,if-none-match' },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(pre.headers.get('access-control-allow-headers')).toMatch(/If-None-Match/i);
      expect(stack.sim.count()).toBe(0);

      const res = await fetch(`${url}/packages`, { headers: { origin: 'https://app.example.com' } });
      expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(res.headers.get('access-control-expose-headers')).toMatch(/ETag.*X-Cache.*Age/);
      expect(res.headers.get('vary')).toMatch(/Origin/);
      const foreign = await fetch(`${url}/packages`, { headers: { origin: 'https://evil.example' } });
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    });
  });
});

