import type { CacheEngine } from '../cache/engine.js';
import { oncePer, type FoundEntry } from '../cache/entry.js';
import { isFresh, stateOf } from '../cache/timeline.js';
import { PUBLIC } from '../domain/scope.js';
import { parseRef } from './ref.js';
import type { FastKeyOf } from '../http/hit-path.js';
import { detailHeader, type ComposedList, type ListDetails } from './details.js';
import { detailKey, listKey } from './keys.js';
import { PACKAGE_ROUTE, PACKAGES_ROUTE } from './routes.js';
import { memberOf } from './service.js';

const PUBLIC_LIST = listKey(PUBLIC);
const REF_PREFIX = `${PACKAGES_ROUTE}/`;

/**
 * What the cache-hit path may answer of packages, with the router's own parser, keys and rules: the
 * public list (completed with its details, only when complete and current: else the router composes it
 * and fetches what is missing), and a public package by a plain ref segment (no query, no
 * percent-encoding: the router takes those), found as the router finds it, through the public list held
 * in L1.
 */
export function packageKeys(engine: CacheEngine, details: ListDetails | null): FastKeyOf {
  // Each composed list's answer, made once rather than for every hit.
  const finished = oncePer((composed: ComposedList) => ({ entry: composed.entry, headers: detailHeader(composed) }));
  const finishList = (list: FoundEntry, now: number) => {
    const composed = details!.cached(list);
    if (!composed || composed.known < composed.total || !composed.earliest || !isFresh(stateOf(composed.earliest, now))) return null;
    return finished(composed);
  };
  // The same answer for every hit of the list: made once, not per request.
  const publicList = { key: PUBLIC_LIST, route: PACKAGES_ROUTE, finish: details ? finishList : undefined };
  return (url) => {
    if (url === PACKAGES_ROUTE) return publicList;
    if (!url.startsWith(REF_PREFIX)) return null;
    const ref = parseRef(url.slice(REF_PREFIX.length));
    const list = ref && engine.peek(PUBLIC_LIST);
    const listed = list?.kind === 'found' ? memberOf(list, ref!) : undefined;
    return listed ? { key: detailKey(listed, PUBLIC), route: PACKAGE_ROUTE } : null;
  };
}
