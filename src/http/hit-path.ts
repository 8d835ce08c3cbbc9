import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { CacheEngine } from '../cache/engine.js';
import { oncePer, type FoundEntry } from '../cache/entry.js';
import { stateOf, type Windows } from '../cache/timeline.js';
import type { Clock } from '../domain/clock.js';
import type { PreparedLine, RequestLog } from '../observability/request-log.js';
import type { Coding, Compressor } from './compression.js';
import type { CorsPolicy } from './cors.js';
import { elapsedMs, requestId } from './request-context.js';
import { ifNoneMatchMatches } from './etag.js';
import { ageSeconds, cacheHeaders, freshSeconds, isShared } from './respond.js';

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

/**
 * One answer as the hit path sends it, made by the router's own functions (`cacheHeaders`,
 * `Compressor.represent`, `CorsPolicy.addTo`) and kept while its `max-age` and `Age` still hold, so a hit
 * copies no headers and formats no values: the header block is stored with the object, as nginx and
 * Varnish store theirs.
 */
interface Prepared {
  /** The `max-age` and `Age` its headers were made with. */
  fresh: number;
  age: number;
  /** The coding's ETag, which `If-None-Match` is compared with. */
  etag: string;
  /** `[name, value, ...]` for `writeHead`; the last value is the request id, set for each request. */
  headers: string[];
  status: 200 | 304;
  /** Compressed bytes are not held here but asked of L1 each time, so they stay under its bound. */
  coding: Coding;
  line: PreparedLine;
}

/** Where each request header the hit path reads is kept while it answers (`readHeaders`). */
const ACCEPT_ENCODING = 0;
const IF_NONE_MATCH = 1;
const ORIGIN = 2;
const REQUEST_ID = 3;

/** Where each coding's answers sit among an entry's prepared ones; a 304 sits one after its 200. */
const SLOT: Record<Coding, number> = { identity: 0, br: 2, gzip: 4 };
/**
 * The cache-hit path, in front of the routers: a keyless GET of a public item whose entry is fresh in L1
 * is answered straight from memory, with no routing, parsing or JSON encoding. It decides nothing of its
 * own: which key a URL names is the resource's `keyOf` (built from its router's own parsers and keys),
 * the timeline is `stateOf`, the caching headers, the public/private rule and the content coding are
 * `http/respond`'s and `Compressor`'s (the compressed bytes made once and kept in L1), the CORS headers
 * `CorsPolicy`'s; what they make is kept per answer (`Prepared`) while it holds. Anything else (a key, a
 * miss, a stale entry, a query string, another method) returns false and takes the router, which gives
 * the same answer more slowly. An entry in its refresh-ahead window also takes the router, which starts
 * the refresh.
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
  const { authRequired, cors, compressor } = opts;
  // Without a key and AUTH_REQUIRED, only public answers reach here: the same for everyone.
  const shared = isShared(true, false, authRequired);
  /**
   * Each answer entry's body bytes (made once per entry rather than once per answer) and prepared answers,
   * by `SLOT`; an entry that L1 lets go takes its own with it.
   */
  const keptFor = oncePer((answer: FoundEntry) => ({ identity: Buffer.from(answer.body), slots: [] as Array<Prepared | undefined> }));
  // The request headers this path reads, by lowercase name, to their place in `read`; -1 for those only
  // the router answers: a credential, and with sign-in a cookie (a user's, perhaps). Each also as most
  // clients write it, found without lowercasing (as node:http's own `matchKnownFields` does).
  const lowercase: Array<[string, number]> = [
    ['accept-encoding', ACCEPT_ENCODING],
    ['if-none-match', IF_NONE_MATCH],
    ['origin', ORIGIN],
    ['x-request-id', REQUEST_ID],
    ['authorization', -1],
    ['x-api-key', -1],
    ...(opts.cookies ? [['cookie', -1] as [string, number]] : []),
  ];
  const capitalized = (name: string) => name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
  const reads = new Map<string, number>([...lowercase, ...lowercase.map(([name, at]): [string, number] => [capitalized(name), at])]);
  /** Bit n set: some header read here has a name n characters long. */
  const readLengths = [...reads.keys()].reduce((bits, name) => bits | (1 << name.length), 0);
  const read: Array<string | undefined> = [undefined, undefined, undefined, undefined];

  /**
   * Finds the headers this path reads in `rawHeaders`, in one pass, rather than asking `req.headers`,
   * which Node builds when first asked (every name lowercased, a property each). False when the router
   * must answer: a credential, or a header read here sent twice (Node joins or drops copies, by rules the
   * router then applies).
   */
  function readHeaders(raw: string[]): boolean {
    read[ACCEPT_ENCODING] = read[IF_NONE_MATCH] = read[ORIGIN] = read[REQUEST_ID] = undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      // Most names are none of these by their length alone, and are not lowercased.
      if (name.length > 31 || !((readLengths >>> name.length) & 1)) continue;
      const at = reads.get(name) ?? reads.get(name.toLowerCase());
      if (at === undefined) continue;
      if (at < 0 || read[at] !== undefined) return false;
      read[at] = raw[i + 1];
    }
    return true;
  }

  function prepare(answer: FoundEntry, identity: Buffer, more: Record<string, string> | undefined, origin: string | undefined, acceptEncoding: string | undefined, ifNoneMatch: string | undefined, now: number, route: string): Prepared {
    const headers = cacheHeaders(answer, 'HIT', shared, now);
    if (more) Object.assign(headers, more);
    if (cors) cors.addTo(headers, origin);
    const out = compressor.represent(identity, answer.etag, headers, acceptEncoding, ifNoneMatch);
    if (out.body !== null) headers['content-length'] = String(out.body.length);
    const flat = Object.entries(headers).flat();
    flat.push('x-request-id', '');
    return {
      fresh: freshSeconds(answer, now),
      age: ageSeconds(answer, now),
      etag: headers.etag!,
      headers: flat,
      status: out.status,
      coding: (headers['content-encoding'] as Coding | undefined) ?? 'identity',
      line: log.prepare(route, 'GET', out.status, 'HIT'),
    };
  }

  /** Does `held`, prepared for `answer`, still say what its headers would say at `now`? */
  const holds = (held: Prepared | undefined, answer: FoundEntry, now: number): held is Prepared =>
    held !== undefined && held.fresh === freshSeconds(answer, now) && held.age === ageSeconds(answer, now);

  return function hitPath(req: IncomingMessage, res: ServerResponse): boolean {
    const started = performance.now();
    // Keys are checked, limited and logged by the router.
    if (req.method !== 'GET' || authRequired || !readHeaders(req.rawHeaders)) return false;
    const url = req.url!;
    const target = keyOf(url);
    if (!target) return false;
    const now = clock.now();
    const entry = engine.peek(target.key, now);
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

    const idHeader = read[REQUEST_ID];
    const id = requestId(idHeader);
    const acceptEncoding = read[ACCEPT_ENCODING];
    const ifNoneMatch = read[IF_NONE_MATCH];
    const origin = read[ORIGIN];
    const { identity, slots } = keptFor(answer);
    let out: Prepared;
    if (cors && origin !== undefined) {
      // The CORS headers depend on the Origin: made for this request alone.
      out = prepare(answer, identity, more, origin, acceptEncoding, ifNoneMatch, now, target.route);
    } else {
      // The 200 in the coding this request accepts, then its 304 when `If-None-Match` names its ETag.
      let slot = SLOT[compressor.codingOf(identity.length, acceptEncoding)];
      out = holds(slots[slot], answer, now) ? slots[slot]! : (slots[slot] = prepare(answer, identity, more, origin, acceptEncoding, undefined, now, target.route));
      if (ifNoneMatch !== undefined && ifNoneMatchMatches(ifNoneMatch, out.etag)) {
        slot++;
        out = holds(slots[slot], answer, now) ? slots[slot]! : (slots[slot] = prepare(answer, identity, more, origin, acceptEncoding, ifNoneMatch, now, target.route));
      }
    }
    const headers = out.headers;
    headers[headers.length - 1] = id;
    res.writeHead(out.status, headers);
    if (out.status === 304) res.end();
    else res.end(out.coding === 'identity' ? identity : compressor.bytes(identity, answer.etag, out.coding));
    onHit();
    out.line(id, url, elapsedMs(started), id === idHeader, now);
    return true;
  };
}
