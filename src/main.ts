import { ConfigError, loadConfig } from './config/config.js';
import { createRuntime } from './runtime.js';

/** `npm start`: the service for real, configured from the environment. */
try {
  const config = loadConfig();
  const runtime = createRuntime(config);
  const url = await runtime.listen();
  runtime.deps.logger.info({ url, upstream: config.katapultApiUrl }, 'listening');
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`katapult-bff: configuration error: ${err.message}\n`);
  process.exit(1);
}
