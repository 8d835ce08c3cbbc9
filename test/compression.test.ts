import { request } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryStore } from '../src/cache/memory-store.js';
import { acceptedCoding, codedEtag, Compressor } from '../src/http/compression.js';
import { FakeClock } from './support/clock.js';
import { ACME_KEY } from './support/keys.js';
import { startStack, type Stack } from './support/stack.js';

describe('Accept-Encoding', () => {
  it.each([
    [undefined, 'identity'],
    ['', 'identity'],
    ['gzip', 'gzip'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['br', 'br'],
    ['gzip, deflate, br, zstd', 'br'], // Chromium's
    ['gzip, deflate', 'gzip'], // undici's and Go's net/http (gzip only)
    ['br;q=0.5, gzip', 'gzip'],
    ['br;q=1.0, gzip;q=0.999', 'br'],
    ['gzip;q=0, br;q=0', 'identity'],
    ['identity;q=0', 'identity'], // nothing acceptable: identity, which every client reads
    ['*', 'br'],
    ['*;q=0, identity', 'identity'],
    ['gzip;q=0.2, identity;q=0.5', 'identity'],
    ['deflate, compress', 'identity'],
    ['br;q=high, gzip;q=0.1', 'gzip'], // a q-value that does not parse accepts nothing
    ['br;q=2', 'identity'],
    [' gzip ; q = 0.8 , br ; q=0.7', 'gzip'],
  ])('%j → %s', (header, coding) => {
    expect(acceptedCoding(header)).toBe(coding);
  });
});

describe('compressed representations in L1', () => {
  it('are made once, counted in L1 bytes but not entries, and left alone by key globs', () => {
    const clock = new FakeClock();
    const l1 = new MemoryStore(1_000_000, clock);
    const compressor = new Compressor(l1, { minBytes: 10, brotliQuality: 5 });
    const made = vi.spyOn(compressor, 'compress');
    const body = JSON.stringify({ packages: Array.from({ length: 50 }, (_, i) => ({ id: `vmpkg_${i}`, name: `ROCK-${i}` })) });
    const before = l1.size;
    const first = compressor.represent(body, '"tag"', {}, 'br', undefined);
    const again = compressor.represent(body, '"tag"', {}, 'gzip;q=0.5, br', undefined);
    expect(made).toHaveBeenCalledTimes(1);
    expect(again.body).toBe(first.body);
    expect(String(brotliDecompressSync(first.body as Buffer))).toBe(body);
    expect(l1.size.entries).toBe(before.entries);
    expect(l1.size.bytes - before.bytes).toBeGreaterThanOrEqual((first.body as Buffer).length);
    expect(l1.deleteMatching(['*'])).toBe(0);
    compressor.represent(body, '"tag"', {}, 'br', undefined);
    expect(made).toHaveBeenCalledTimes(1);
  });

  it('give way to entries under the one byte bound', () => {
    const clock = new FakeClock();
    const l1 = new MemoryStore(20_000, clock);
    const compressor = new Compressor(l1, { minBytes: 10, brotliQuality: 1 });
    // Incompressible bodies, so each coding is as large as its body.
    const noise = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join('');
    for (let i = 0; i < 20; i++) compressor.represent(noise(4_000), `"t${i}"`, {}, 'gzip', undefined);
    expect(l1.size.bytes).toBeLessThanOrEqual(20_000);
  });
});

/** A raw GET, so the bytes on the wire are seen as sent (fetch would undo the coding). */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
}

const decode = (coding: unknown, body: Buffer) => String(coding === 'br' ? brotliDecompressSync(body) : coding === 'gzip' ? gunzipSync(body) : body);

describe('compressed answers over HTTP', () => {
  let stack: Stack;
  let url = '';
  beforeAll(async () => {
    stack = await startStack({ env: { CORS_ORIGINS: 'https://app.example.com' } });
    url = stack.urls[0]!;
  });
  afterAll(() => stack.close());

  it('sends each cached answer in the coding asked for, compressed once for the router and the hit path alike', async () => {
    const made = vi.spyOn(Compressor.prototype, 'compress');
    const identity = await rawGet(`${url}/packages`, {}); // a miss: the router
    expect(identity.headers['content-encoding']).toBeUndefined();
    const etag = identity.headers.etag as string;
    const l1Bytes = async () => Number(/^kbff_l1_bytes (\d+)/m.exec(await (await fetch(`${url}/metrics`)).text())![1]);
    const heldBefore = await l1Bytes();
    for (const coding of ['br', 'gzip'] as const) {
      for (let i = 0; i < 5; i++) {
        const res = await rawGet(`${url}/packages`, { 'accept-encoding': coding, origin: 'https://app.example.com' });
        expect(res.headers['x-cache']).toBe('HIT');
        expect(res.headers['content-encoding']).toBe(coding);
        expect(res.headers.etag).toBe(codedEtag(etag, coding));
        expect(res.headers.vary).toBe('Accept-Encoding, Origin');
        expect(Number(res.headers['content-length'])).toBe(res.body.length);
        expect(res.body.length).toBeLessThan(identity.body.length / 3);
        expect(decode(coding, res.body)).toBe(String(identity.body));
      }
    }
    expect(made.mock.calls.map(([, coding]) => coding)).toEqual(['br', 'gzip']);
    expect(await l1Bytes()).toBeGreaterThan(heldBefore);

    // The router (a key makes it answer) sends the very bytes the hit path kept, for an organization's list too.
    const keyed = await rawGet(`${url}/packages?organization=acme`, { 'accept-encoding': 'br', 'x-api-key': ACME_KEY });
    expect([keyed.headers['content-encoding'], keyed.headers.vary]).toEqual(['br', 'Accept-Encoding, Origin']);
    const keyedAgain = await rawGet(`${url}/packages?organization=acme`, { 'accept-encoding': 'br', 'x-api-key': ACME_KEY });
    expect(keyedAgain.body.equals(keyed.body)).toBe(true);
    expect(made.mock.calls.filter(([, coding]) => coding === 'br')).toHaveLength(2);
    made.mockRestore();
  });

  it("answers If-None-Match with the coding's own ETag with a 304, and the identity's ETag for a br request with the br answer", async () => {
    const identity = await rawGet(`${url}/packages`, {});
    const etag = identity.headers.etag as string;
    const br = codedEtag(etag, 'br');
    for (const ask of [br, `W/${br}`, `"other", ${br}`]) {
      const res = await rawGet(`${url}/packages`, { 'accept-encoding': 'br', 'if-none-match': ask });
      expect([res.status, res.headers.etag, res.headers.vary, res.body.length]).toEqual([304, br, 'Accept-Encoding, Origin', 0]);
    }
    const other = await rawGet(`${url}/packages`, { 'accept-encoding': 'br', 'if-none-match': etag });
    expect([other.status, other.headers.etag]).toEqual([200, br]);
    const plain = await rawGet(`${url}/packages`, { 'accept-encoding': 'identity', 'if-none-match': br });
    expect([plain.status, plain.headers.etag]).toEqual([200, etag]);
  });

  it('leaves answers under COMPRESS_MIN_BYTES alone, and compresses the docs and the compatible surface', async () => {
    const small = await rawGet(`${url}/packages/rock-3`, { 'accept-encoding': 'br' });
    expect(small.body.length).toBeLessThan(1024);
    expect([small.status, small.headers['content-encoding'], small.headers.vary]).toEqual([200, undefined, 'Accept-Encoding, Origin']);
    for (const path of ['/openapi.json', '/docs', '/core/v1/virtual_machine_packages']) {
      const res = await rawGet(`${url}${path}`, { 'accept-encoding': 'br', authorization: path.startsWith('/core') ? `Bearer ${ACME_KEY}` : '' });
      expect([path, res.status, res.headers['content-encoding']]).toEqual([path, 200, 'br']);
      expect(String(res.headers.vary)).toMatch(/^Accept-Encoding/);
      const plain = await rawGet(`${url}${path}`, { authorization: path.startsWith('/core') ? `Bearer ${ACME_KEY}` : '' });
      expect(decode('br', res.body)).toBe(String(plain.body));
      expect(res.headers.etag).toBe(codedEtag(plain.headers.etag as string, 'br'));
      const again = await rawGet(`${url}${path}`, { 'accept-encoding': 'br', 'if-none-match': res.headers.etag as string, authorization: path.startsWith('/core') ? `Bearer ${ACME_KEY}` : '' });
      expect(again.status).toBe(304);
    }
  });
});
