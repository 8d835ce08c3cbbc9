import { loadConfig } from './config/config.js';
import { createRuntime } from './runtime.js';
import { KatapultSimulator } from './simulator/simulator.js';
import { AUDIENCE, startIdentityProvider } from './simulator/identity-provider.js';

/**
 * `npm run demo`: the service on its embedded defaults, against the built-in simulator on loopback,
 * with an in-process cache, and workload tokens from a real OpenID Provider on loopback. No token, no
 * Redis, nothing leaves the machine.
 */
const DEMO_KEY = 'demo-key-not-a-secret';
const sim = new KatapultSimulator();
const upstream = await sim.listen(0, '127.0.0.1');
// The demo's identity provider: a workload of acme's that gets tokens from it, and a user of acme's who
// signs in there. Its client for the sign-in is this service, called back on the port it will listen on.
const WORKLOAD = 'demo-worker';
const USER = { login: 'ada', password: 'any password' };
const defaults = { HOST: '127.0.0.1' };
const { host, port } = loadConfig(undefined, { demo: true, requireToken: false, defaults });
const site = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
const bff = { clientId: 'katapult-bff', clientSecret: 'demo-client-secret-not-a-secret', redirectUri: `${site}/auth/callback` };
const idp = await startIdentityProvider({ [WORKLOAD]: ['acme'] }, { ...bff, users: { [USER.login]: { name: 'Ada Lovelace', orgs: ['acme'] } } });
const config = loadConfig(undefined, {
  demo: true,
  defaults,
  overrides: {
    KATAPULT_API_URL: upstream,
    KATAPULT_API_TOKEN: sim.token,
    KATAPULT_API_TOKEN_FILE: undefined,
    REDIS_URL: undefined,
    REDIS_SENTINELS: undefined,
    REDIS_CLUSTER_NODES: undefined,
    // One consumer key for trying organization scopes; the demo's only, never for real use.
    API_KEYS: `demo:${DEMO_KEY}:*`,
    API_KEYS_FILE: undefined,
    JWT_ISSUER: idp.issuer,
    JWT_AUDIENCE: AUDIENCE,
    JWT_JWKS_URL: undefined,
    OIDC_ISSUER: idp.issuer,
    OIDC_CLIENT_ID: bff.clientId,
    OIDC_CLIENT_SECRET: bff.clientSecret,
    OIDC_CLIENT_SECRET_FILE: undefined,
    OIDC_REDIRECT_URL: bff.redirectUri,
  },
});
const runtime = createRuntime(config);
const url = await runtime.listen();
const workloadToken = await idp.token(WORKLOAD);
runtime.deps.logger.info({ url, upstream }, 'listening (demo)');
runtime.deps.logger.flush();
process.stdout.write(
  [
    '',
    `katapult-bff demo is up at ${url}`,
    `  ${url}/   the package picker: sign in as "${USER.login}" with any password (${USER.password}, say) to see acme's packages`,
    `  curl -i ${url}/packages`,
    `  curl -i ${url}/packages/rock-3`,
    `  curl -i -H 'X-Api-Key: ${DEMO_KEY}' '${url}/packages?organization=acme'`,
    `  curl -i '${url}/core/v1/virtual_machine_packages?per_page=5'   (as a Katapult client sees it)`,
    `A workload's token from the demo's identity provider (${idp.issuer}), valid 10 minutes:`,
    `  curl -i -H 'Authorization: Bearer ${workloadToken}' '${url}/packages?organization=acme'`,
    `  a new one: curl -s -d grant_type=client_credentials -d client_id=${WORKLOAD} -d client_secret=${idp.secretOf(WORKLOAD)} ${idp.issuer}/token`,
    `  curl -s ${url}/metrics | grep kbff_cache   ·   ${url}/docs`,
    'Ctrl-C stops it.',
    '',
  ].join('\n'),
);
const stop = () => void Promise.all([runtime.close(), sim.close(), idp.close()]).then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
