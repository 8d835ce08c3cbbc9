import { request, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startStack, type Stack } from './support/stack.js';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { codedEtag } from '../src/http/compression.js';
import { FakeClock } from './support/clock.js';

/** A response's body with its content coding undone. */
async function decoded(res: Response): Promise<string> {
  const bytes = Buffer.from(await res.arrayBuffer());
  const coding = res.headers.get('content-encoding');
  return String(coding === 'br' ? brotliDecompressSync(bytes) : coding === 'gzip' ? gunzipSync(bytes) : bytes);
}

/**
 * Over real HTTP, fresh public hits are answered by the hit path in front of the router. Its answers must
 * be the router's answers: same body, same headers, same conditional handling.
 */
describe('cache-hit path', () => {
  const clock = new FakeClock();
  let stack: Stack;
  let url = '';
  beforeAll(async () => {
    stack = await startStack({ clock, env: { CACHE_FRESH_SECONDS: '60', CACHE_SWR_SECONDS: '0', CACHE_REFRESH_AHEAD_SECONDS: '10' } });
    url = stack.urls[0]!;
  });
  afterAll(() => stack.close());

  const headersOf = (res: Response) =>
    Object.fromEntries([...res.headers].filter(([k]) => !['date', 'x-request-id', 'x-cache', 'keep-alive', 'connection'].includes(k)));

  it.each(['/packages', '/packages/rock-3', '/packages/vmpkg_dMeEyd1g8hwIlxR8'])('answers %s exactly as the router does', async (path) => {
    const routed = await fetch(`${url}${path}`);
    const routedBody = await routed.text();
    expect(routed.headers.get('x-cache')).toBe('MISS');
    // Same instant: same Age and max-age from both paths.
    const routedAgain = await stack.runtimes[0]!.app.request(path, { headers: { 'accept-encoding': 'identity' } });
    const hit = await fetch(`${url}${path}`, { headers: { 'x-request-id': 'hit-1', 'accept-encoding': 'identity' } });
    expect(hit.headers.get('x-cache')).toBe('HIT');
    expect(hit.headers.get('x-request-id')).toBe('hit-1');
    expect(await hit.text()).toBe(routedBody);
    expect(headersOf(hit)).toEqual({ ...headersOf(routedAgain), 'content-length': String(Buffer.byteLength(routedBody)) });
    expect(stack.sim.count()).toBeGreaterThan(0);
  });

  it('reads request headers whatever their case, and leaves credentials and repeated headers to the router', async () => {
    const rt = stack.runtimes[0]!;
    const etag = (await fetch(`${url}/packages/rock-24`)).headers.get('etag')!;
    const fastHits = vi.spyOn(rt.deps.metrics, 'l1Hit');
    /** A GET with these header lines exactly as written (names in any case, repeated ones). */
    const raw = (path: string, lines: string[]) =>
      new Promise<{ status: number; headers: IncomingHttpHeaders }>((resolve, reject) => {
        request(`${url}${path}`, { headers: ['Host', new URL(url).host, ...lines] }, (res) => resolve({ status: res.statusCode!, headers: res.resume().headers })).on('error', reject).end();
      });
    const answered = async (path: string, lines: string[]) => {
      const before = fastHits.mock.calls.length;
      const res = await raw(path, lines);
      return { status: res.status, byHitPath: fastHits.mock.calls.length > before, id: res.headers['x-request-id'], coding: res.headers['content-encoding'] ?? 'identity' };
    };
    expect(await answered('/packages/rock-24', ['IF-NONE-MATCH', etag, 'X-Request-ID', 'Trace-9'])).toEqual({ status: 304, byHitPath: true, id: 'Trace-9', coding: 'identity' });
    expect(await answered('/packages', ['Accept-Encoding', 'gzip'])).toMatchObject({ status: 200, byHitPath: true, coding: 'gzip' });
    // A key in any case: the router checks it (unknown, so 401), however the name is written.
    expect(await answered('/packages/rock-24', ['X-API-KEY', 'nope'])).toMatchObject({ status: 401, byHitPath: false });
    expect(await answered('/packages/rock-24', ['authorization', 'Bearer nope'])).toMatchObject({ status: 401, byHitPath: false });
    // Two lines of one header: Node joins them ("gzip, br"), and the router answers as it reads that.
    expect(await answered('/packages', ['accept-encoding', 'gzip', 'Accept-Encoding', 'br'])).toMatchObject({ status: 200, byHitPath: false, coding: 'br' });
    fastHits.mockRestore();
  });

  it('answers If-None-Match with 304 and sends nothing upstream', async () => {
    const first = await fetch(`${url}/packages/rock-6`);
    const etag = first.headers.get('etag')!;
    const before = stack.sim.count();
    clock.advance(5_000);
    const res = await fetch(`${url}/packages/rock-6`, { headers: { 'if-none-match': `W/${etag}` } });
    expect(res.status).toBe(304);
    expect(res.headers.get('cache-control')).toBe('public, max-age=55');
    expect(res.headers.get('age')).toBe('5');
    expect(stack.sim.count()).toBe(before);
  });

  it('leaves an entry near the end of its freshness to the router, which refreshes it ahead', async () => {
    await fetch(`${url}/packages/boulder-20`);
    const before = stack.sim.count();
    clock.advance(52_000);
    const res = await fetch(`${url}/packages/boulder-20`);
    expect(res.headers.get('x-cache')).toBe('HIT');
    await stack.runtimes[0]!.deps.engine.settle();
    expect(stack.sim.count()).toBe(before + 1);
  });

  it('leaves expired entries, queries and other methods to the router', async () => {
    await fetch(`${url}/packages/rock-12`);
    clock.advance(61_000);
    expect((await fetch(`${url}/packages/rock-12`)).headers.get('x-cache')).toBe('REVALIDATED');
    const head = await fetch(`${url}/packages/rock-12`, { method: 'HEAD' });
    expect([head.status, head.headers.get('x-cache')]).toEqual([200, 'HIT']);
    expect((await fetch(`${url}/packages/rock-12`, { method: 'POST' })).status).toBe(405);
  });
});

/**
 * The hit path decides nothing of its own: for every request it takes, its answer must be the router's,
 * header for header, with CORS off, with a list of origins and with `*`.
 */
describe.each([
  ['CORS off', {}],
  ['CORS for listed origins', { CORS_ORIGINS: 'https://app.example.com' }],
  ['CORS for any origin', { CORS_ORIGINS: '*' }],
])('hit path and router, %s', (_name, env) => {
  const clock = new FakeClock();
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ clock, env });
  });
  afterAll(() => stack.close());

  // Transport headers node:http adds to one and not the other (app.request has no socket).
  const comparable = (res: Response) => Object.fromEntries([...res.headers].filter(([k]) => !['date', 'keep-alive', 'connection', 'content-length'].includes(k)));

  it('answers every request it takes with the router\'s status, headers and body', async () => {
    const rt = stack.runtimes[0]!;
    const paths = ['/packages', '/packages/rock-3', '/packages/vmpkg_dMeEyd1g8hwIlxR8'];
    for (const p of paths) await (await fetch(`${stack.urls[0]}${p}`)).arrayBuffer(); // warm L1
    const etag = (await fetch(`${stack.urls[0]}/packages`)).headers.get('etag')!;
    const variants: Array<Record<string, string>> = [
      {},
      { origin: 'https://app.example.com' },
      { origin: 'https://elsewhere.example' },
      { 'if-none-match': etag },
      { 'if-none-match': `W/${etag}`, origin: 'https://app.example.com' },
      { 'if-none-match': codedEtag(etag, 'br') },
    ];
    // Undici's fetch asks for gzip and deflate unless told; each request here says what it accepts.
    const encodings = ['identity', 'gzip', 'br;q=1, gzip;q=0.5', 'gzip;q=0, br;q=0, *;q=0'];
    const fastHits = vi.spyOn(rt.deps.metrics, 'l1Hit');
    let compared = 0;
    const codings = new Set<string>();
    // Again a moment later and as Age and max-age move on: the hit path keeps each answer's headers while they hold.
    for (const step of [0, 400, 1_500, 1_000]) {
      clock.advance(step);
      for (const path of paths) {
        for (const headers of variants) {
          for (const accept of encodings) {
            const sent = { ...headers, 'accept-encoding': accept, 'x-request-id': `parity-${compared}` };
            const before = fastHits.mock.calls.length;
            const fast = await fetch(`${stack.urls[0]}${path}`, { headers: sent });
            expect(fastHits.mock.calls.length).toBe(before + 1); // the hit path answered this one
            const routed = await rt.app.request(path, { headers: sent });
            expect(fast.status).toBe(routed.status);
            expect(comparable(fast)).toEqual(comparable(routed));
            // fetch undoes the coding; app.request hands over the bytes as sent.
            expect(await fast.text()).toBe(await decoded(routed));
            codings.add(`${routed.status} ${routed.headers.get('content-encoding') ?? 'identity'}`);
            compared++;
          }
        }
      }
    }
    expect(compared).toBe(4 * 72);
    // The list is compressed, the packages (under COMPRESS_MIN_BYTES) are not, and a coding's own ETag is a 304.
    expect([...codings].sort()).toEqual(['200 br', '200 gzip', '200 identity', '304 identity']);
    fastHits.mockRestore();
  });

  it('leaves to the router what the router refuses: a malformed id is a 400 on both', async () => {
    const fast = await fetch(`${stack.urls[0]}/packages/vmpkg_a-b`);
    const routed = await stack.runtimes[0]!.app.request('/packages/vmpkg_a-b');
    expect([fast.status, routed.status]).toEqual([400, 400]);
    expect((await fast.json()).error.message).toMatch(/^path parameter 'ref'/);
  });
});
