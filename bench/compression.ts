import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { generatedPackages, ORGANIZATIONS, seedPackages } from '../src/simulator/seed.js';
import { KatapultSimulator } from '../src/simulator/simulator.js';
import { rawGet, startServer } from './http.js';

/** Brotli's quality weighed: bytes against the CPU of the one compression each representation costs. */
export interface QualityRow {
  coding: string;
  /** Bytes, and µs per compression, for each measured answer. */
  figures: Array<{ bytes: number; us: number }>;
}

const KEY = 'bench-acme-0123456789abcdef';

/**
 * A large organization's complete list, as the service answers it (identity): 200 private packages
 * beside the public ones, with their details.
 */
export async function largeList(): Promise<Buffer> {
  const acme = ORGANIZATIONS[0]!;
  const own = generatedPackages(200).map((p) => ({ ...p, privacy: 'private' as const, organizationId: acme.id }));
  const sim = new KatapultSimulator({ packages: [...seedPackages(), ...own], budgetPerMinute: 1_000_000 });
  const upstream = await sim.listen(0, '127.0.0.1');
  const server = await startServer(['service', 'warn', JSON.stringify({ KATAPULT_API_URL: upstream, KATAPULT_API_TOKEN: sim.token, API_KEYS: `ops:${KEY}:*` })]);
  try {
    return (await rawGet(`${server.url}/packages?organization=acme&complete=true`, { 'x-api-key': KEY })).body;
  } finally {
    server.stop();
    await sim.close();
  }
}

/** The median of `reps` timed runs of `fn`, in µs. */
function timed(fn: () => Buffer, reps: number): { bytes: number; us: number } {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    bytes = fn().length;
    times.push((performance.now() - t) * 1000);
  }
  times.sort((a, b) => a - b);
  return { bytes, us: times[Math.floor(reps / 2)]! };
}

/** Each brotli quality and the gzip levels the service and nginx use, on each body. */
export function qualityRows(bodies: Buffer[], reps = 15): QualityRow[] {
  const rows: QualityRow[] = [{ coding: 'identity', figures: bodies.map((b) => ({ bytes: b.length, us: 0 })) }];
  for (const level of [1, 6]) rows.push({ coding: `gzip level ${level}${level === 6 ? ' (the service: zlib\'s default)' : ' (nginx\'s default)'}`, figures: bodies.map((b) => timed(() => gzipSync(b, { level }), reps)) });
  for (let q = 0; q <= 11; q++) {
    const params = (b: Buffer) => ({ params: { [constants.BROTLI_PARAM_QUALITY]: q, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT, [constants.BROTLI_PARAM_SIZE_HINT]: b.length } });
    rows.push({ coding: `br quality ${q}`, figures: bodies.map((b) => timed(() => brotliCompressSync(b, params(b)), q >= 10 ? 5 : reps)) });
  }
  return rows;
}
