import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIdentityProvider, type IdentityProvider } from '../src/simulator/identity-provider.js';
import { captureLogs } from './support/logs.js';
import { freePort } from './support/ports.js';
import { cleanRedisUrl } from './support/redis.js';
import { redisReady, startStack, type Stack } from './support/stack.js';

const CLIENT = { clientId: 'katapult-bff', clientSecret: 'bff-secret-0123456789abcdef' };

/**
 * Users sign in through the service (the BFF pattern) at a real OpenID Provider (`oidc-provider`): the
 * authorization code flow with PKCE, state and nonce, sessions in Redis for the whole fleet, and only a
 * session cookie in the browser, which never authorizes a read on its own.
 */
describe('sign-in through the service', () => {
  let idp: IdentityProvider;
  let stack: Stack;
  const logs = captureLogs();
  let site = '';
  beforeAll(async () => {
    const ports = [await freePort(), await freePort()];
    site = `http://127.0.0.1:${ports[0]}`;
    idp = await startIdentityProvider({}, { ...CLIENT, redirectUri: `${site}/auth/callback`, users: { ada: { name: 'Ada Lovelace', orgs: ['acme'] } } });
    stack = await startStack({
      instances: 2,
      ports,
      redisUrl: await cleanRedisUrl(),
      logger: logs.logger,
      env: { OIDC_ISSUER: idp.issuer, OIDC_CLIENT_ID: CLIENT.clientId, OIDC_CLIENT_SECRET: CLIENT.clientSecret, OIDC_REDIRECT_URL: `${site}/auth/callback`, LOG_LEVEL: 'info' },
    });
    await redisReady(stack);
  });
  afterAll(async () => {
    await stack.close();
    await idp.close();
  });

  /** A browser's cookies, per site, by name. */
  const browser = () => {
    const jars = new Map<string, Map<string, string>>();
    const go = async (url: string, init: RequestInit = {}) => {
      const host = new URL(url).host;
      const jar = jars.get(host) ?? new Map<string, string>();
      jars.set(host, jar);
      const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const at = pair!.indexOf('=');
        const [name, value] = [pair!.slice(0, at), pair!.slice(at + 1)];
        if (/max-age=0/i.test(c)) jar.delete(name);
        else jar.set(name, value);
      }
      return res;
    };
    return { go, cookies: (url: string) => jars.get(new URL(url).host) ?? new Map<string, string>() };
  };

  /** Signs in as ada at the provider's own pages; resolves to the callback URL the provider sends back to `back`. */
  const atProvider = async (b: ReturnType<typeof browser>, loginUrl: string, provider = idp, back = site) => {
    let res = await b.go(loginUrl);
    let location = new URL(res.headers.get('location')!, provider.issuer).toString();
    res = await b.go(location);
    const form = await res.text();
    const action = new URL(/action="([^"]+)"/.exec(form)![1]!, provider.issuer).toString();
    res = await b.go(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ prompt: 'login', login: 'ada', password: 'any' }) });
    for (let i = 0; i < 5; i++) {
      location = new URL(res.headers.get('location')!, provider.issuer).toString();
      if (location.startsWith(back)) return location;
      res = await b.go(location);
    }
    throw new Error('the provider did not send the browser back');
  };

  it('signs a user in, shares the session across instances, reads only its organizations with proof of origin, and signs out everywhere', async () => {
    const b = browser();
    const login = await b.go(`${site}/auth/login?returnTo=/packages`);
    expect(login.status).toBe(302);
    const authorize = new URL(login.headers.get('location')!);
    expect([authorize.origin, authorize.searchParams.get('code_challenge_method'), !!authorize.searchParams.get('state'), !!authorize.searchParams.get('nonce')]).toEqual([idp.issuer, 'S256', true, true]);
    expect(login.headers.getSetCookie()[0]).toMatch(/^kbff_login=[^;]+; Max-Age=600; Path=\/; HttpOnly; SameSite=Lax$/);

    const callback = await atProvider(b, login.headers.get('location')!);
    const back = await b.go(callback);
    expect([back.status, back.headers.get('location')]).toEqual([302, '/packages']);
    const cookie = back.headers.getSetCookie().find((c) => c.startsWith('kbff_session='))!;
    expect(cookie).toMatch(/^kbff_session=[A-Za-z0-9_-]{43}; Max-Age=28800; Path=\/; HttpOnly; SameSite=Lax$/);
    const id = b.cookies(site).get('kbff_session')!;

    const asUser = (url: string, path: string, headers: Record<string, string> = { 'x-csrf': '1' }) => fetch(`${url}${path}`, { headers: { cookie: `kbff_session=${id}`, ...headers } });
    expect(await (await asUser(site, '/auth/session', {})).json()).toEqual({ subject: 'ada', name: 'Ada Lovelace', organizations: ['acme'] });
    const acme = await asUser(site, '/packages?organization=acme');
    expect([acme.status, ((await acme.json()).packages as unknown[]).length]).toEqual([200, 22]);
    expect((await asUser(site, '/packages?organization=globex')).status).toBe(403);
    // The cookie alone never reads: no X-CSRF, a cross-site fetch, a foreign origin.
    for (const headers of [{}, { 'x-csrf': '1', 'sec-fetch-site': 'cross-site' }, { 'x-csrf': '1', origin: 'https://evil.example' }] as Array<Record<string, string>>) {
      const res = await asUser(site, '/packages?organization=acme', headers);
      expect([res.status, (await res.json()).error.code]).toEqual([403, 'forbidden']);
    }
    // Another instance serves the same session, and a sign-out there ends it on both.
    const other = stack.urls[1]!;
    expect((await asUser(other, '/packages?organization=acme')).status).toBe(200);
    expect((await fetch(`${other}/auth/logout`, { method: 'POST', headers: { cookie: `kbff_session=${id}` } })).status).toBe(403); // no X-CSRF
    expect((await fetch(`${other}/auth/logout`, { method: 'POST', headers: { cookie: `kbff_session=${id}`, 'x-csrf': '1' } })).status).toBe(204);
    for (const url of stack.urls) {
      expect((await asUser(url, '/auth/session', {})).status).toBe(401);
      expect((await asUser(url, '/packages?organization=acme')).status).toBe(401);
    }
    // Neither the session id nor any token of the provider's is in a log line.
    const text = logs.lines.join('\n');
    expect(text).not.toContain(id);
    expect(text).toContain('user:ada');
  });

  it("refuses a wrong state, a replayed callback, a forged cookie, a cookie set before sign-in, an open redirect, and the provider's absence", async () => {
    // returnTo off this site.
    for (const to of ['https://evil.example', '//evil.example/x', '/\\evil.example']) {
      expect((await fetch(`${site}/auth/login?returnTo=${encodeURIComponent(to)}`, { redirect: 'manual' })).status).toBe(400);
    }
    // A cookie the attacker set before sign-in is replaced, never adopted.
    const b = browser();
    const planted = 'A'.repeat(43);
    b.cookies(site).set('kbff_session', planted);
    const login = await b.go(`${site}/auth/login`);
    const callback = await atProvider(b, login.headers.get('location')!);
    // A wrong state: no session, and the sign-in attempt is spent.
    const tampered = new URL(callback);
    tampered.searchParams.set('state', 'not-the-state');
    const wrong = await b.go(tampered.toString());
    expect([wrong.status, wrong.headers.getSetCookie().some((c) => c.startsWith('kbff_session=') && !/max-age=0/i.test(c))]).toEqual([400, false]);
    // Replaying the real callback once the attempt is spent: refused too.
    expect((await b.go(callback)).status).toBe(400);

    const b2 = browser();
    b2.cookies(site).set('kbff_session', planted);
    const login2 = await b2.go(`${site}/auth/login`);
    const callback2 = await atProvider(b2, login2.headers.get('location')!);
    expect((await b2.go(callback2)).status).toBe(302);
    const id = b2.cookies(site).get('kbff_session')!;
    expect(id).not.toBe(planted);
    expect((await b2.go(callback2)).status).toBe(400); // the same code again
    for (const forged of [planted, `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`, 'garbage']) {
      const res = await fetch(`${site}/packages?organization=acme`, { headers: { cookie: `kbff_session=${forged}`, 'x-csrf': '1' } });
      expect([res.status, (await res.json()).error.code]).toEqual([401, 'unauthorized']);
    }
    expect((await fetch(`${site}/packages?organization=acme`, { headers: { cookie: `kbff_session=${id}`, 'x-csrf': '1' } })).status).toBe(200);

    // The provider down: sign-in says so; a session made before it keeps working.
    await idp.close();
    const down = await fetch(`${stack.urls[1]}/auth/login`, { redirect: 'manual' });
    expect([down.status, (await down.text()).includes('identity provider cannot be reached')]).toEqual([503, true]);
    expect((await fetch(`${stack.urls[1]}/packages?organization=acme`, { headers: { cookie: `kbff_session=${id}`, 'x-csrf': '1' } })).status).toBe(200);
  });

  it("reads the user's organizations from userinfo when the provider keeps them out of the ID token", async () => {
    const port = await freePort();
    const own = `http://127.0.0.1:${port}`;
    const strict = await startIdentityProvider({}, { ...CLIENT, redirectUri: `${own}/auth/callback`, users: { ada: { name: 'Ada Lovelace', orgs: ['acme'] } }, claimsInIdToken: false });
    const single = await startStack({ ports: [port], env: { OIDC_ISSUER: strict.issuer, OIDC_CLIENT_ID: CLIENT.clientId, OIDC_CLIENT_SECRET: CLIENT.clientSecret, OIDC_REDIRECT_URL: `${own}/auth/callback` } });
    try {
      const b = browser();
      const login = await b.go(`${own}/auth/login`);
      const callback = await atProvider(b, login.headers.get('location')!, strict, own);
      expect((await b.go(callback)).status).toBe(302);
      const session = await fetch(`${own}/auth/session`, { headers: { cookie: `kbff_session=${b.cookies(own).get('kbff_session')}` } });
      expect(await session.json()).toEqual({ subject: 'ada', name: 'Ada Lovelace', organizations: ['acme'] });
    } finally {
      await single.close();
      await strict.close();
    }
  });

  it('on https, its cookies are Secure and __Host- prefixed', async () => {
    const own = await startIdentityProvider({}, { ...CLIENT, redirectUri: 'https://bff.example/auth/callback', users: {} });
    const https = await startStack({ env: { OIDC_ISSUER: own.issuer, OIDC_CLIENT_ID: CLIENT.clientId, OIDC_CLIENT_SECRET: CLIENT.clientSecret, OIDC_REDIRECT_URL: 'https://bff.example/auth/callback' } });
    try {
      const login = await fetch(`${https.urls[0]}/auth/login`, { redirect: 'manual' });
      expect(login.headers.getSetCookie()[0]).toMatch(/^__Host-kbff_login=[^;]+; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
      expect(new URL(login.headers.get('location')!).searchParams.get('redirect_uri')).toBe('https://bff.example/auth/callback');
    } finally {
      await https.close();
      await own.close();
    }
  });

  it('holds each client address to a request bucket of sign-ins (each keeps state for 10 minutes)', async () => {
    const own = await startIdentityProvider({}, { ...CLIENT, redirectUri: 'http://127.0.0.1:1/auth/callback', users: {} });
    const small = await startStack({
      env: { CONSUMER_BURST: '3', CONSUMER_RATE_PER_SECOND: '0.01', OIDC_ISSUER: own.issuer, OIDC_CLIENT_ID: CLIENT.clientId, OIDC_CLIENT_SECRET: CLIENT.clientSecret, OIDC_REDIRECT_URL: 'http://127.0.0.1:1/auth/callback' },
    });
    try {
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await fetch(`${small.urls[0]}/auth/login`, { redirect: 'manual' })).status);
      expect(statuses).toEqual([302, 302, 302, 429, 429]);
    } finally {
      await small.close();
      await own.close();
    }
  });
});
