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
export async function startIdentityProvider(orgs: Record<string, string[]>): Promise<IdentityProvider> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `k-${Math.random().toString(36).slice(2, 10)}`;
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const secret = (id: string) => `${id}-secret-0123456789abcdef`;
  const provider = new Provider(issuer, {
    clients: Object.keys(orgs).map((id) => ({
      client_id: id,
      client_secret: secret(id),
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
    })),
    features: {
      // Workloads only: no sign-in pages.
      devInteractions: { enabled: false },
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
