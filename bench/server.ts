import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { loadConfig } from '../src/config/config.js';
import { createRuntime } from '../src/runtime.js';
import { KatapultSimulator } from '../src/simulator/simulator.js';

/**
 * A server process for the benchmark, so load generator and server do not share one event loop.
 *   service [logLevel] [json]  the service in front of its own simulator (LOG_LEVEL, default info); `json` holds
 *                        settings that replace the defaults (KATAPULT_API_URL and _TOKEN for another upstream)
 *   floor <file> [json]  the service (as `service`, log on) and in its process a node:http server answering as
 *                        `bare` does: what node:http costs in a process that also runs the service (its router,
 *                        its upstream client); sends both URLs, that server's first
 *   simulator            the Katapult simulator alone; the service's runs in a process of its own, as the real
 *                        upstream is elsewhere, so the service's process runs only the service's code
 *   bare <file>          node:http answering the bytes in <file> with the service's own response headers
 *                        (<file>.headers.json): the Node ceiling for exactly this response
 * Sends its base URL to the parent over IPC; the parent reads its CPU time and memory from /proc.
 */
const [mode, arg] = process.argv.slice(2);
// Exit on SIGTERM rather than die of it, so a wrapper (Valgrind) writes what it counted.
process.on('SIGTERM', () => process.exit(0));

/** node:http answering the bytes in `file` with the headers in `file`.headers.json, and nothing else. */
async function bareServer(file: string): Promise<string> {
  const { readFileSync } = await import('node:fs');
  const body = readFileSync(file);
  const headers = JSON.parse(readFileSync(`${file}.headers.json`, 'utf8')) as Record<string, string>;
  const server = createServer((_req, res) => {
    res.writeHead(200, headers);
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

if (mode === 'bare') {
  process.send!(await bareServer(arg!));
} else if (mode === 'simulator') {
  const sim = new KatapultSimulator({ budgetPerMinute: 1_000_000 });
  process.send!({ url: await sim.listen(), token: sim.token });
} else {
  const settings = JSON.parse(process.argv[mode === 'floor' ? 5 : 4] ?? '{}') as Record<string, string>;
  let upstream = {};
  if (!settings.KATAPULT_API_URL) {
    // In the same process group, so it goes when the service's group is stopped; never under Valgrind.
    const child = fork(process.argv[1]!, ['simulator'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const { url, token } = await new Promise<{ url: string; token: string }>((resolve) => child.once('message', resolve));
    child.disconnect();
    upstream = { KATAPULT_API_URL: url, KATAPULT_API_TOKEN: token };
  }
  const config = loadConfig({ ...upstream, LOG_LEVEL: mode === 'floor' ? 'info' : (arg ?? 'info'), CACHE_FRESH_SECONDS: '3600', ...settings });
  const runtime = createRuntime(config);
  const url = await runtime.listen(0, '127.0.0.1');
  process.send!(mode === 'floor' ? `${await bareServer(arg!)} ${url}` : url);
}
