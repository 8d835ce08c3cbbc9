import { createServer } from 'node:http';
import { loadConfig } from '../src/config/config.js';
import { createRuntime } from '../src/runtime.js';
import { KatapultSimulator } from '../src/simulator/simulator.js';

/**
 * A server process for the benchmark, so load generator and server do not share one event loop.
 *   service [redisUrl]   the service in front of its own simulator, cache warmed
 *   bare <file>          node:http answering the bytes in <file> (the Node ceiling)
 * Sends its base URL to the parent over IPC.
 */
const [mode, arg] = process.argv.slice(2);

if (mode === 'bare') {
  const { readFileSync } = await import('node:fs');
  const body = readFileSync(arg!);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => process.send!(`http://127.0.0.1:${(server.address() as { port: number }).port}`));
} else {
  const sim = new KatapultSimulator({ budgetPerMinute: 1_000_000 });
  const upstream = await sim.listen();
  const config = loadConfig({ KATAPULT_API_URL: upstream, KATAPULT_API_TOKEN: sim.token, REDIS_URL: arg, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', CACHE_FRESH_SECONDS: '3600' });
  const runtime = createRuntime(config);
  const url = await runtime.listen(0, '127.0.0.1');
  process.send!(url);
}
