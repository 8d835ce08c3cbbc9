import { exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { WorkloadTokens } from '../src/auth/workload-tokens.js';
import { createLogger } from '../src/observability/logger.js';
import { AUDIENCE, startIdentityProvider, type IdentityProvider } from '../src/simulator/identity-provider.js';
import { captureLogs } from './support/logs.js';
import { startStack, type Stack } from './support/stack.js';

/** Workloads present a JWT of their own identity provider (a real OpenID Provider here) instead of an API key. */
describe('workload tokens (JWT bearer)', () => {
  let idp: IdentityProvider;
  let stack: Stack;
  const logs = captureLogs();
  beforeAll(async () => {
    idp = await startIdentityProvider({ 'billing-worker': ['acme'], 'report-worker': ['globex', 'org_Ac7meCoRp0rat10n'] });
    stack = await startStack({ logger: logs.logger, env: { JWT_ISSUER: idp.issuer, JWT_AUDIENCE: AUDIENCE, LOG_LEVEL: 'info' } });
  });
  afterAll(async () => {
    await stack.close();
    await idp.close();
  });
  const get = (path: string, token: string) => fetch(`${stack.urls[0]}${path}`, { headers: { authorization: `Bearer ${token}` } });
  /** A token as the provider would sign it, with `claims` changed. */
  const sign = (claims: Record<string, unknown>, key: CryptoKey | Uint8Array = idp.signingKey, header: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    const payload = { iss: idp.issuer, aud: AUDIENCE, sub: 'forger', iat: now, exp: now + 300, katapult_orgs: ['acme'], ...claims };
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: idp.kid, ...header }).sign(key as CryptoKey);
  };

  it("reads what its claim lists, as its own consumer, on both surfaces; its token is never logged", async () => {
    const token = await idp.token('billing-worker');
    const acme = await get('/packages?organization=acme', token);
    expect([acme.status, ((await acme.json()).packages as unknown[]).length]).toEqual([200, 22]);
    expect((await get('/packages?organization=globex', token)).status).toBe(403);
    expect((await get('/packages', token)).status).toBe(200);
    const compat = await get('/core/v1/virtual_machine_packages?organization[sub_domain]=acme&per_page=50', token);
    expect([compat.status, ((await compat.json()).virtual_machine_packages as unknown[]).length]).toEqual([200, 22]);
    // Another workload: its own organizations, by id too.
    const other = await idp.token('report-worker');
    expect((await get('/packages?organization=org_Ac7meCoRp0rat10n', other)).status).toBe(200);
    expect((await get('/packages?organization=acme', other)).status).toBe(403);

    const lines = logs.parsed().filter((l) => l.route === '/packages');
    expect(lines.map((l) => l.consumer)).toContain('jwt:billing-worker');
    expect(logs.lines.join('\n')).not.toContain(token.split('.')[2]);
    const metrics = await (await fetch(`${stack.urls[0]}/metrics`)).text();
    expect(metrics).not.toContain('billing-worker');
  });

  it('refuses every forged, stale or misdirected token with 401 invalid_token, and reads nothing for it', async () => {
    const { privateKey: stranger } = await generateKeyPair('RS256');
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const valid = await idp.token('billing-worker');
    const [head, body, signature] = valid.split('.') as [string, string, string];
    const altered = JSON.parse(Buffer.from(body, 'base64url').toString());
    altered.katapult_orgs = ['acme', 'globex'];
    const now = Math.floor(Date.now() / 1000);
    const forged: Record<string, string> = {
      'alg none': new UnsecuredJWT({ sub: 'forger', katapult_orgs: ['acme'] }).setIssuer(idp.issuer).setAudience(AUDIENCE).setExpirationTime('5m').encode(),
      'HS256 keyed with a public key': await sign({}, new TextEncoder().encode(await exportSPKI(publicKey)), { alg: 'HS256' }),
      expired: await sign({ exp: now - 120 }),
      'not yet valid': await sign({ nbf: now + 120 }),
      'wrong audience': await sign({ aud: 'someone-else' }),
      'wrong issuer': await sign({ iss: 'https://evil.example' }),
      'an unpublished key reusing a published kid': await sign({}, stranger),
      'an altered payload': `${head}.${Buffer.from(JSON.stringify(altered)).toString('base64url')}.${signature}`,
      garbage: 'eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2lnbmF0dXJl',
    };
    for (const [what, token] of Object.entries(forged)) {
      const res = await get('/packages?organization=acme', token);
      expect([what, res.status, res.headers.get('www-authenticate'), (await res.json()).error.code]).toEqual([what, 401, 'Bearer error="invalid_token"', 'unauthorized']);
      const compat = await get('/core/v1/virtual_machine_packages?organization[sub_domain]=acme', token);
      expect([what, compat.status, (await compat.json()).error.code]).toEqual([what, 403, 'invalid_api_token']);
    }
    // The same forger's token, unaltered, signed with the provider's key, reads: the refusals are the changes'.
    expect((await get('/packages?organization=acme', await sign({}))).status).toBe(200);
    expect((await get('/packages?organization=acme', valid)).status).toBe(200);
  });

  it('200 unknown key ids cost at most one key-set fetch per cooldown; known keys keep working with the provider down', async () => {
    const valid = await idp.token('billing-worker');
    expect((await get('/packages?organization=acme', valid)).status).toBe(200);
    const before = idp.jwksRequests();
    const { privateKey: stranger } = await generateKeyPair('RS256');
    for (let i = 0; i < 200; i++) {
      const token = await sign({}, stranger, { kid: `unknown-${i}` });
      expect((await get('/packages', token)).status).toBe(401);
    }
    expect(idp.jwksRequests() - before).toBeLessThanOrEqual(1);

    await idp.close();
    expect((await get('/packages?organization=acme', valid)).status).toBe(200);
  });

  it('refuses at start-up what would accept forged tokens', () => {
    const base = { JWT_ISSUER: 'https://id.example.com', JWT_AUDIENCE: 'bff' };
    const load = (env: Record<string, string>) => () => loadConfig({ ...base, ...env }, { requireToken: false });
    expect(load({ JWT_ALGORITHMS: 'RS256,none' })).toThrow(/JWT_ALGORITHMS: none is not an asymmetric signature algorithm/);
    expect(load({ JWT_ALGORITHMS: 'HS256' })).toThrow(/JWT_ALGORITHMS: HS256/);
    expect(load({ JWT_ISSUER: 'http://id.example.com' })).toThrow(/JWT_ISSUER: must be https/);
    expect(load({ JWT_AUDIENCE: '' })).toThrow(/JWT_AUDIENCE: required/);
    expect(loadConfig(base, { requireToken: false }).workloadTokens).toMatchObject({ algorithms: ['RS256', 'ES256', 'EdDSA'], orgsClaim: 'katapult_orgs' });
  });

  it('keeps verifying with the keys it knows when they are due for a refetch and the provider is down', async () => {
    const own = await startIdentityProvider({ 'billing-worker': ['acme'] });
    const tokens = new WorkloadTokens({ issuer: own.issuer, audience: AUDIENCE, jwksUrl: null, orgsClaim: 'katapult_orgs', algorithms: ['RS256'] }, createLogger('silent'), Date.now, 50);
    const token = await own.token();
    expect(await tokens.verify(token)).toMatchObject({ name: 'jwt:billing-worker' });
    await own.close();
    await new Promise((r) => setTimeout(r, 100)); // the keys are due for a refetch, which cannot reach the provider
    expect(await tokens.verify(token)).toMatchObject({ name: 'jwt:billing-worker', scopes: new Set(['acme']) });
    expect(await tokens.verify(token.slice(0, -4) + 'AAAA')).toBeNull();
  });

  it('accepts a rotated key after one refetch of the key set', async () => {
    const before = await startIdentityProvider({ 'billing-worker': ['acme'] });
    const tokens = new WorkloadTokens({ issuer: before.issuer, audience: AUDIENCE, jwksUrl: null, orgsClaim: 'katapult_orgs', algorithms: ['RS256'] }, createLogger('silent'), Date.now, 600_000, 100);
    expect(await tokens.verify(await before.token())).not.toBeNull();
    await before.close();
    // The same issuer, now signing with a new key.
    const after = await startIdentityProvider({ 'billing-worker': ['acme'] }, undefined, Number(new URL(before.issuer).port));
    try {
      const rotated = await after.token();
      await new Promise((r) => setTimeout(r, 150)); // past the cooldown since the last fetch
      expect(await tokens.verify(rotated)).toMatchObject({ name: 'jwt:billing-worker' });
      expect(after.jwksRequests()).toBe(1);
    } finally {
      await after.close();
    }
  });
});
