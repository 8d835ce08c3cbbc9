import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CacheEngine } from '../cache/engine.js';
import type { CacheEntry, FoundEntry } from '../cache/entry.js';
import { stateOf, type Windows } from '../cache/timeline.js';
import type { Clock } from '../domain/clock.js';
import type { RequestLog } from '../observability/request-log.js';
import type { Compressor } from './compression.js';
import type { CorsPolicy } from './cors.js';
import { elapsedMs, requestId } from './request-context.js';
import { cacheHeaders, isShared } from './respond.js';

/**
 * What a resource's fast path may answer for a keyless GET of `url` (its path, with no query): the cache
 * key, the route label, and for an entry that is answered in another form (a list completed with its
 * details), how to finish it, or null when only the router can. Null for a URL the router must answer.
 */
export type FastKeyOf = (url: string) => {
  key: string;
  route: string;
  finish?: (entry: FoundEntry, now: number) => { entry: FoundEntry; headers: Record<string, string> } | null;
} | null;

/** Bytes of each entry's body, made once per entry rather than once per response. */
const bodies = new WeakMap<CacheEntry, Buffer>();

/**
 * The cache-hit path, in front of the routers: a keyless GET of a public item whose entry is fresh in L1
 * is answered straight from memory, with no routing, parsing or JSON encoding. It decides nothing of its
 * own: which key a URL names is the resource's `keyOf` (built from its router's own parsers and keys),
 * the timeline is `stateOf`, the caching headers, the public/private rule and the content coding are
 * `http/respond`'s (the compressed bytes made once and kept in L1), the CORS headers `CorsPolicy`'s. Anything else (a key, a miss, a stale entry, a query string, another
 * method) returns false and takes the router, which gives the same answer more slowly. An entry in its
 * refresh-ahead window also takes the router, which starts the refresh.
 */
export function createHitPath(
  engine: CacheEngine,
  clock: Clock,
  log: RequestLog,
  onHit: () => void,
  /** `cookies`: users sign in, so a request with a cookie may be a user's, which the router decides. */
  opts: Windows & { authRequired: boolean; cors: CorsPolicy | null; cookies?: boolean; compressor: Compressor },
  keyOf: FastKeyOf,
) {
  const { authRequired, cors } = opts;
  // Without a key and AUTH_REQUIRED, only public answers reach here: the same for everyone.
  const shared = isShared(true, false, authRequired);
  return function hitPath(req: IncomingMessage, res: ServerResponse): boolean {
    const started = performance.now();
    if (req.method !== 'GET' || authRequired) return false;
    // Keys are checked, limited and logged by the router.
    const h = req.headers;
    if (h.authorization !== undefined || h['x-api-key'] !== undefined || (opts.cookies && h.cookie !== undefined)) return false;
    const url = req.url!;
    const target = keyOf(url);
    if (!target) return false;
    const entry = engine.peek(target.key);
    const now = clock.now();
    // Near the end of freshness the router answers instead: it also starts the refresh-ahead.
    if (!entry || entry.kind !== 'found' || stateOf(entry, now, opts) !== 'fresh') return false;
    let answer = entry;
    let more: Record<string, string> | undefined;
    if (target.finish) {
      const finished = target.finish(entry, now);
      if (!finished) return false;
      answer = finished.entry;
      more = finished.headers;
    }

    const id = requestId(h['x-request-id'] as string | undefined);
    const headers = cacheHeaders(answer, 'HIT', shared, now);
    if (more) Object.assign(headers, more);
    headers['x-request-id'] = id;
    if (cors) cors.addTo(headers, h.origin);
    let identity = bodies.get(answer);
    if (!identity) bodies.set(answer, (identity = Buffer.from(answer.body)));
    const out = opts.compressor.represent(identity, answer.etag, headers, h['accept-encoding'], h['if-none-match']);
    if (out.body === null) res.writeHead(304, headers).end();
    else {
      headers['content-length'] = String(out.body.length);
      res.writeHead(200, headers).end(out.body);
    }
    onHit();
    log.write({ reqId: id, route: target.route, method: 'GET', path: url, status: out.status, cache: 'HIT', ms: elapsedMs(started) });
    return true;
  };
}
