import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import Provider from 'oidc-provider';

/** The audience this service's workload tokens are issued for, in the demo and the tests. */
export const AUDIENCE = 'katapult-bff';

export interface IdentityProvider {
  issuer: string;
  /** The key the provider signs with (published in its JWKS): tests sign tokens of their own with it. */
  signingKey: CryptoKey;
  kid: string;
  /** An access token for workload `clientId` (OAuth client credentials), listing `orgs`. */
  token(clientId?: string): Promise<string>;
  /** The client secret of workload `clientId`. */
  secretOf(clientId: string): string;
  /** Requests for its key set so far. */
  jwksRequests(): number;
  close(): Promise<void>;
}

/**
 * A real OpenID Provider (`oidc-provider`) on loopback for the demo and the tests, issuing JWT access
 * tokens (RFC 9068) to workloads by client credentials, with the organizations each may read in
 * `katapult_orgs`. Each workload's client secret is `<id>-secret-0123456789abcdef`: not a secret.
 */
export interface SignInOptions {
  /** This service as the provider's client for users' sign-in (authorization code, PKCE). */
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** The users who may sign in (any password), with their name and organizations. */
  users: Record<string, { name: string; orgs: string[] }>;
  /** False: the users' claims only at userinfo, not in the ID token (as many providers do). */
  claimsInIdToken?: boolean;
}

export async function startIdentityProvider(orgs: Record<string, string[]>, signIn?: SignInOptions, port = 0): Promise<IdentityProvider> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `k-${Math.random().toString(36).slice(2, 10)}`;
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const server: Server = createServer();
  // `port`: the same issuer again, with a new key (a rotation).
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const secret = (id: string) => `${id}-secret-0123456789abcdef`;
  const workloads = Object.keys(orgs).map((id) => ({
    client_id: id,
    client_secret: secret(id),
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
  }));
  const bff = signIn
    ? [{ client_id: signIn.clientId, client_secret: signIn.clientSecret, grant_types: ['authorization_code'], redirect_uris: [signIn.redirectUri], response_types: ['code'] }]
    : [];
  const provider = new Provider(issuer, {
    clients: [...workloads, ...bff],
    // Users sign in on the provider's own development pages (any password); their organizations are a claim.
    claims: { openid: ['sub', 'katapult_orgs'], profile: ['name'] },
    conformIdTokenClaims: signIn?.claimsInIdToken === false,
    pkce: { required: () => true },
    findAccount: async (_ctx: unknown, id: string) => {
      const user = signIn?.users[id];
      return user ? { accountId: id, claims: async () => ({ sub: id, name: user.name, katapult_orgs: user.orgs }) } : undefined;
    },
    // This service is the user's own frontend: no consent page.
    loadExistingGrant: async (ctx: any) => {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid profile');
      await grant.save();
      return grant;
    },
    features: {
      devInteractions: { enabled: signIn !== undefined },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://katapult-bff.test',
        getResourceServerInfo: () => ({ scope: '', audience: AUDIENCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
        useGrantedResource: () => true,
      },
    },
    jwks: { keys: [jwk] },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) => ({ katapult_orgs: orgs[token.clientId ?? ''] ?? [] }),
  } as ConstructorParameters<typeof Provider>[1]);
  let jwks = 0;
  provider.use(async (ctx, next) => {
    if (ctx.path === '/jwks') jwks++;
    await next();
  });
  server.on('request', provider.callback());
  return {
    issuer,
    signingKey: privateKey,
    kid,
    async token(clientId = Object.keys(orgs)[0]!) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret(clientId) }),
      });
      return ((await res.json()) as { access_token: string }).access_token;
    },
    secretOf: secret,
    jwksRequests: () => jwks,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
