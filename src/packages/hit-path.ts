import type { IncomingMessage, ServerResponse } from 'node:http';
import { detailKey, listKey } from './keys.js';
import type { CacheEntry } from '../cache/entry.js';
import type { CacheEngine } from '../cache/engine.js';
import { isFresh, stateOf } from '../cache/timeline.js';
import type { Clock } from '../domain/clock.js';
import type { CorsPolicy } from '../http/cors.js';
import { ifNoneMatchMatches } from '../http/etag.js';
import { elapsedMs, requestId } from '../http/request-context.js';
import { cacheHeaders, isShared } from '../http/respond.js';
import type { RequestLog } from '../observability/request-log.js';
import { parseRef, PUBLIC } from '../domain/scope.js';
import { detailHeader, type ListDetails } from './details.js';
import { PACKAGE_ROUTE, PACKAGES_ROUTE } from './routes.js';
import { memberOf } from './service.js';

const PUBLIC_LIST = listKey(PUBLIC);
const REF_PREFIX = `${PACKAGES_ROUTE}/`;

/** Bytes of each entry's body, made once per entry rather than once per response. */
const bodies = new WeakMap<CacheEntry, Buffer>();

/**
 * The cache-hit path, in front of the router: a keyless GET for public packages whose entry is fresh in
 * L1 is answered straight from memory, with no routing, parsing or JSON encoding. It decides nothing of
 * its own: the ref syntax (`parseRef`), the cache key (`cache/keys`), the caching headers and the
 * public/private rule (`http/respond`), the CORS headers (`CorsPolicy`) and the route labels are the
 * router's. Anything else (a key, a miss, a stale entry, an organization scope, a query string, another
 * method) returns false and takes the router, which gives the same answer more slowly. An entry in its
 * refresh-ahead window also takes the router, which starts the refresh.
 */
export function createHitPath(
  engine: CacheEngine,
  clock: Clock,
  log: RequestLog,
  onHit: () => void,
  opts: { refreshAheadMs: number; swrMs: number; authRequired: boolean; cors: CorsPolicy | null; details: ListDetails | null },
) {
  const { authRequired, cors, details } = opts;
  // Without a key and AUTH_REQUIRED, only public answers reach here: the same for everyone.
  const shared = isShared(true, false, authRequired);
  return function hitPath(req: IncomingMessage, res: ServerResponse): boolean {
    const started = performance.now();
    if (req.method !== 'GET' || authRequired) return false;
    // Keys are checked, limited and logged by the router.
    const h = req.headers;
    if (h.authorization !== undefined || h['x-api-key'] !== undefined) return false;
    const url = req.url!;
    const key = url === PACKAGES_ROUTE ? PUBLIC_LIST : url.startsWith(REF_PREFIX) ? refKey(url.slice(REF_PREFIX.length), engine) : null;
    if (!key) return false;
    const entry = engine.peek(key);
    const now = clock.now();
    // Near the end of freshness the router answers instead: it also starts the refresh-ahead.
    if (!entry || entry.kind !== 'found' || stateOf(entry, now, opts) !== 'fresh') return false;
    // A list is answered composed with its details: only when complete and current, else the router
    // composes it (and fetches what is missing).
    let answer = entry;
    let more: Record<string, string> | undefined;
    if (key === PUBLIC_LIST && details) {
      const composed = details.cached(entry);
      if (!composed || composed.known < composed.total || !composed.earliest || !isFresh(stateOf(composed.earliest, now))) return false;
      answer = composed.entry;
      more = detailHeader(composed);
    }

    const id = requestId(h['x-request-id'] as string | undefined);
    const notModified = ifNoneMatchMatches(h['if-none-match'], answer.etag);
    const headers = cacheHeaders(answer, 'HIT', shared, now);
    if (more) Object.assign(headers, more);
    headers['x-request-id'] = id;
    if (cors) Object.assign(headers, cors.answerHeaders(h.origin));
    if (notModified) {
      res.writeHead(304, headers).end();
    } else {
      let body = bodies.get(answer);
      if (!body) bodies.set(answer, (body = Buffer.from(answer.body)));
      headers['content-type'] = 'application/json; charset=utf-8';
      headers['content-length'] = String(body.length);
      res.writeHead(200, headers).end(body);
    }
    onHit();
    const route = key === PUBLIC_LIST ? PACKAGES_ROUTE : PACKAGE_ROUTE;
    log.write({ reqId: id, route, method: 'GET', path: url, status: notModified ? 304 : 200, cache: 'HIT', ms: elapsedMs(started) });
    return true;
  };
}

/**
 * The detail key of a plain ref path segment (no query, no percent-encoding: the router takes those), as
 * the router finds it: through the public list held in L1. Null when the list is not held or does not
 * name the ref (the router answers those).
 */
function refKey(segment: string, engine: CacheEngine): string | null {
  const ref = parseRef(segment);
  const list = ref && engine.peek(PUBLIC_LIST);
  const listed = list?.kind === 'found' ? memberOf(list, ref!) : undefined;
  return listed ? detailKey(listed, PUBLIC) : null;
}
