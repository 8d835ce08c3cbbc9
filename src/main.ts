import { ConfigError, describeRedis, loadConfig } from './config/config.js';
import { createRuntime } from './runtime.js';

/** `npm start`: the service for real, configured from the environment. */
let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`katapult-bff: configuration error: ${err.message}\n`);
  process.exit(1);
}

const runtime = createRuntime(config);
const { logger } = runtime.deps;
const url = await runtime.listen();
// KATAPULT_API_URL cannot carry credentials (refused by the config); a Redis URL's password is left out.
logger.info({ url, upstream: config.katapultApiUrl, redis: describeRedis(config.redis) }, 'listening');
// Log lines are written in batches; the start-up lines go out now, for whoever waits on them.
logger.flush();

// SIGTERM (Kubernetes, docker stop) or SIGINT: stop accepting, finish in-flight requests within
// SHUTDOWN_TIMEOUT_MS, close Redis, exit 0. A second signal exits at once.
const shutdown = (signal: NodeJS.Signals) => {
  logger.info({ signal, graceMs: config.shutdownTimeoutMs }, 'shutting down');
  process.once(signal, () => process.exit(1));
  runtime
    .close(config.shutdownTimeoutMs)
    .then(() => {
      logger.info('stopped');
      logger.flush();
      process.exit(0);
    })
    .catch((err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      logger.flush();
      process.exit(1);
    });
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
