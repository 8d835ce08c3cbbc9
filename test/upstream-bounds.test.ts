import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { asOps } from './support/keys.js';
import { memoryOf, resetPeak, startMain } from './support/main-process.js';
import { startStack, type Stack } from './support/stack.js';

const MiB = 1024 * 1024;

/** Nothing from upstream can hold a request or the process's memory: every wait and every body is bounded. */
describe('bounded waits and bodies', () => {
  let stack: Stack | null = null;
  afterEach(async () => {
    await stack?.close();
    stack = null;
  });

  /** Sends every path at once; resolves to each answer's status, error code and time taken. */
  const all = (paths: string[]) =>
    Promise.all(
      paths.map(async (p) => {
        const started = performance.now();
        const res = await fetch(`${stack!.urls[0]}${p}`, { headers: asOps });
        const body = (await res.json()) as { error?: { code: string } };
        return { status: res.status, code: body.error?.code, ms: performance.now() - started };
      }),
    );
  const cold = (n: number) => Array.from({ length: n }, (_, i) => `/packages?organization=cold-${i}`);
  const queued = async () => Number(/^kbff_upstream_queued (\d+)/m.exec(await (await fetch(`${stack!.urls[0]}/metrics`)).text())?.[1]);

  it('100 cold requests behind 4 slots, upstream 3 s away, a 1 s timeout: every one answered by its deadline, nothing left waiting', async () => {
    stack = await startStack({ env: { KATAPULT_TIMEOUT_MS: '1000', UPSTREAM_CONCURRENCY: '4', CONSUMER_UPSTREAM_PER_MINUTE: '1000' } });
    stack.sim.setFault({ kind: 'latency', ms: 3000 });
    const answers = await all(cold(100));
    expect(new Set(answers.map((a) => `${a.status} ${a.code}`))).toEqual(new Set(['504 upstream_timeout']));
    // The deadline is 1 s; the rest is this process's own client and server sharing a loaded machine
    // (unbounded, the last of them waited 25 s).
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(2500);
    expect(await queued()).toBe(0);
    // The queue's wait counts: most of those that got a slot when the first four gave up had no time left
    // and were refused unsent (and uncharged); those that arrived moments later had a few ms for a call.
    const metrics = await (await fetch(`${stack.urls[0]}/metrics`)).text();
    const sent = Number(/kbff_upstream_requests_total\{endpoint="list",outcome="timeout"\} (\d+)/.exec(metrics)![1]);
    const refused = Number(/kbff_upstream_refusals_total\{reason="queue_timeout"\} (\d+)/.exec(metrics)![1]);
    expect([sent + refused, sent < 50]).toEqual([100, true]);
  });

  it('past the queue bound a request is refused at once with 503, and no call is charged for it', async () => {
    stack = await startStack({ env: { KATAPULT_TIMEOUT_MS: '1500', UPSTREAM_CONCURRENCY: '4', UPSTREAM_QUEUE_LENGTH: '10', CONSUMER_UPSTREAM_PER_MINUTE: '1000' } });
    stack.sim.setFault({ kind: 'latency', ms: 2000 });
    const answers = await all(cold(200));
    const refused = answers.filter((a) => a.code === 'upstream_unavailable');
    expect(refused).toHaveLength(186); // 4 in flight, 10 waiting
    // Every one answered by its deadline (1.5 s), give or take a loaded machine's scheduling.
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(3000);
    expect(answers.filter((a) => a.code === 'upstream_timeout')).toHaveLength(14);
    expect(await queued()).toBe(0);
    const metrics = await (await fetch(`${stack.urls[0]}/metrics`)).text();
    expect(metrics).toContain('kbff_upstream_refusals_total{reason="queue_full"} 186');
    expect(metrics).not.toContain('reason="consumer_share"');
  });

  it('a 50 MB body is abandoned as it streams in: 502, nothing stored, and the process stays within a few MiB of idle', { timeout: 60_000 }, async () => {
    // An upstream of the test's own: a small list while warming up, then one whose package has a 50 MB
    // name, sent as fast as it is read.
    let huge = false;
    let bodies = 0;
    const upstream: Server = createServer((req, res) => {
      bodies++;
      res.writeHead(200, { 'content-type': 'application/json', 'x-ratelimit-permitted': '1000', 'x-ratelimit-remaining': '999' });
      res.write('{"pagination":{"current_page":1,"total_pages":1,"total":1,"per_page":200,"large_set":false},"virtual_machine_packages":[{"id":"vmpkg_Huge","name":"');
      const chunk = 'A'.repeat(64 * 1024);
      let sent = 0;
      const more = () => {
        while (huge && sent < 50 * MiB) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end('"}]}');
      };
      res.on('error', () => undefined);
      more();
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/core/v1`;
    // Nothing kept past its freshness, so every request asks upstream.
    const main = await startMain(url, 'test-token', { CACHE_FRESH_SECONDS: '0', CACHE_SWR_SECONDS: '0', CACHE_STALE_SECONDS: '0', CACHE_LIST_DETAILS: 'false' });
    try {
      // Warm: the same path with a small body, until the process's size settles.
      for (let i = 0; i < 20; i++) expect((await fetch(`${main.base}/packages`)).status).toBe(200);
      resetPeak(main.child.pid!);
      const idle = memoryOf(main.child.pid!).rss;
      huge = true;
      const res = await fetch(`${main.base}/packages`);
      expect([res.status, (await res.json()).error.code]).toEqual([502, 'upstream_error']);
      // The default bound is 2 MiB: what it reads before giving up and the collector's slack come to about
      // 6 MiB on a quiet machine, more under load (the 50 MB read whole: over 100 MiB).
      const grown = memoryOf(main.child.pid!).peak - idle;
      expect(grown, `grew ${(grown / MiB).toFixed(1)} MiB`).toBeLessThan(16 * MiB);
      expect(bodies).toBe(21);
    } finally {
      main.child.kill('SIGTERM');
      await main.exited;
      await new Promise((resolve) => upstream.close(resolve));
    }
  });
});
