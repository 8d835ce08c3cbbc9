import { createServer, type Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs } from './support/logs.js';
import { launchChromium } from './support/chromium.js';
import { startStack, type Stack } from './support/stack.js';

/**
 * A page on another origin, in a real headless Chromium, fetches /packages twice: the second fetch must be
 * a 304 revalidation (If-None-Match sent by the browser's cache) with no CORS error.
 */
describe('browser frontend', () => {
  let stack: Stack;
  let page: Server;
  let pageOrigin = '';
  let browser: Browser;
  const logs = captureLogs();

  beforeAll(async () => {
    page = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>frontend</title>'));
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    pageOrigin = `http://127.0.0.1:${(page.address() as { port: number }).port}`;
    stack = await startStack({ env: { CORS_ORIGINS: pageOrigin, LOG_LEVEL: 'info' }, logger: logs.logger });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await new Promise((r) => page?.close(r));
  });

  it('revalidates with If-None-Match across origins and reads the exposed headers', async () => {
    const tab = await browser.newPage();
    const consoleErrors: string[] = [];
    tab.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    await tab.goto(pageOrigin);
    const api = `${stack.urls[0]}/packages`;
    const seen = await tab.evaluate(async (url) => {
      const first = await fetch(url);
      const a = { status: first.status, etag: first.headers.get('etag'), xCache: first.headers.get('x-cache'), count: (await first.json()).packages.length };
      // 'no-cache': use the stored answer only after asking the server, which the browser does with If-None-Match.
      const second = await fetch(url, { cache: 'no-cache' } as RequestInit);
      const b = { status: second.status, etag: second.headers.get('etag'), xCache: second.headers.get('x-cache'), count: (await second.json()).packages.length };
      return [a, b];
    }, api);
    expect(seen[0]).toMatchObject({ status: 200, xCache: 'MISS', count: 20 });
    expect(seen[1]).toMatchObject({ status: 200, etag: seen[0]!.etag, count: 20 }); // the browser turns the 304 into its stored 200
    expect(consoleErrors).toEqual([]);

    const served = logs.parsed().filter((l) => l.msg === 'request' && l.path === '/packages').map((l) => l.status);
    expect(served).toEqual([200, 304]);
    await tab.close();
  });
});
