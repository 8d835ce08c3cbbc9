import { loadConfig } from './config/config.js';
import { createRuntime } from './runtime.js';
import { KatapultSimulator } from './simulator/simulator.js';

/**
 * `npm run demo`: the service on its embedded defaults, against the built-in simulator on loopback,
 * with an in-process cache. No token, no Redis, nothing leaves the machine.
 */
const DEMO_KEY = 'demo-key-not-a-secret';
const sim = new KatapultSimulator();
const upstream = await sim.listen(0, '127.0.0.1');
const config = loadConfig(undefined, {
  demo: true,
  defaults: { HOST: '127.0.0.1' },
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
  },
});
const runtime = createRuntime(config);
const url = await runtime.listen();
runtime.deps.logger.info({ url, upstream }, 'listening (demo)');
runtime.deps.logger.flush();
process.stdout.write(
  [
    '',
    `katapult-bff demo is up at ${url}`,
    `  curl -i ${url}/packages`,
    `  curl -i ${url}/packages/rock-3`,
    `  curl -i -H 'X-Api-Key: ${DEMO_KEY}' '${url}/packages?organization=acme'`,
    `  curl -i '${url}/core/v1/virtual_machine_packages?per_page=5'   (as a Katapult client sees it)`,
    `  curl -s ${url}/metrics | grep kbff_cache   ·   ${url}/docs`,
    'Ctrl-C stops it.',
    '',
  ].join('\n'),
);
const stop = () => void Promise.all([runtime.close(), sim.close()]).then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
