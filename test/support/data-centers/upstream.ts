import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KatapultSimulator } from '../../../src/simulator/simulator.js';

const DATA_CENTERS = [
  { id: 'dc_London000000001', name: 'London', permalink: 'london' },
  { id: 'dc_Amsterdam000002', name: 'Amsterdam', permalink: 'amsterdam' },
  { id: 'dc_NewYork00000003', name: 'New York', permalink: 'new-york' },
];

/**
 * A Katapult of the test's own: the data-center endpoints answered here as Katapult answers (weak ETags,
 * the rate-limit headers, `data_center_not_found` in the wrapped envelope), everything else by `sim`.
 * Counts the data-center requests it answers.
 */
export async function upstreamWithDataCenters(sim: KatapultSimulator): Promise<{ url: string; calls: () => number; close: () => Promise<void> }> {
  let calls = 0;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    if (!url.pathname.startsWith('/core/v1/data_centers')) return sim.handle(req, res);
    calls++;
    const headers = { 'content-type': 'application/json', 'x-ratelimit-permitted': '1000', 'x-ratelimit-remaining': '999' };
    if (req.headers.authorization !== `Bearer ${sim.token}`) return void res.writeHead(403, headers).end('{"error":{"code":"invalid_api_token","description":"","detail":{}}}');
    let body: string;
    if (url.pathname === '/core/v1/data_centers') {
      body = JSON.stringify({ pagination: { current_page: 1, total_pages: 1, total: DATA_CENTERS.length, per_page: 200, large_set: false }, data_centers: DATA_CENTERS });
    } else {
      const id = url.searchParams.get('data_center[id]');
      const permalink = url.searchParams.get('data_center[permalink]');
      const found = DATA_CENTERS.find((d) => d.id === id || d.permalink === permalink);
      if (!found) return void res.writeHead(404, headers).end(JSON.stringify({ error: { code: 'data_center_not_found', description: 'No data center was found', detail: {} } }));
      body = JSON.stringify({ data_center: found });
    }
    res.writeHead(200, { ...headers, etag: `W/"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/core/v1`,
    calls: () => calls,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
