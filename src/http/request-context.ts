import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { ConsumerKeys } from '../config/api-keys.js';
import type { RequestLog } from '../observability/request-log.js';
import type { AppEnv } from './context.js';

/** An inbound id is kept only if it is short and plain, so it cannot forge log lines or headers. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request's id: the inbound one when well-formed, else one of this instance's own. Either is plain
 * text (letters, digits, `._:-`), which the request log relies on.
 */
export function requestId(header: string | undefined | null): string {
  return header && REQUEST_ID.test(header) ? header : newRequestId();
}

/** Each id's last three digits, as text made once: an id is then two strings joined, with no number written. */
const LOW = Array.from({ length: 1000 }, (_, n) => String(1000 + n).slice(1));
const HIGH_FIRST = 1_000_000;
const HIGH_LAST = 9_999_999;
/** The random prefix, and with the counter's first seven digits after it, made anew every thousand ids. */
let idPrefix = '';
let idHigh = '';
let high = HIGH_LAST;
let low = 1000;

/**
 * A UUID-shaped id: 26 characters of a random UUID, drawn afresh every 9 billion ids, and a 10-digit
 * counter. As unique across the fleet as the random part; where `randomUUID()` writes 16 random bytes as
 * hex for every request, this joins two strings already made.
 */
function newRequestId(): string {
  if (low === 1000) {
    low = 0;
    if (high === HIGH_LAST) {
      high = HIGH_FIRST;
      idPrefix = randomUUID().slice(0, 26);
    } else high++;
    idHigh = idPrefix + high;
  }
  return idHigh + LOW[low++]!;
}

/**
 * Gives every request an id (from `X-Request-Id` when well-formed), echoes it, and writes one log line
 * per request. Only method, path, status, timing and cache outcome are logged: no headers and no query,
 * and a path segment that is a consumer key is logged as `[key]`, so no keys. (The hit path logs only
 * the paths of cached packages, which are never keys.)
 */
export function requestContext(log: RequestLog, keys: ConsumerKeys): MiddlewareHandler<AppEnv> {
  return async function requestContext(c, next) {
    const started = performance.now();
    const id = requestId(c.req.header('x-request-id'));
    c.set('requestId', id);
    await next();
    c.res.headers.set('x-request-id', id);
    log.write({
      reqId: id,
      route: routeLabel(c),
      method: c.req.method,
      path: keys.redactPath(c.req.path),
      status: c.res.status,
      cache: c.res.headers.get('x-cache') ?? undefined,
      consumer: c.get('consumer')?.name,
      ms: elapsedMs(started),
    });
  };
}

/** The pattern of the route that answered; wildcards (middleware, not found) are all "other". */
function routeLabel(c: Context): string {
  const path = routePath(c);
  return !path || path.includes('*') ? 'other' : path;
}

/** Milliseconds since `started` (a `performance.now()` reading), to 0.1 ms. */
export function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
