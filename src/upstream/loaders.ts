import type { Loaded, Loader } from '../cache/engine.js';
import type { FoundEntry } from '../cache/entry.js';
import type { Cause } from '../domain/cause.js';
import { isNotFound } from './errors.js';
import type { Conditional, KatapultClient, ListSpec } from './katapult-client.js';

/**
 * Katapult's list and get as cache loaders, for any resource. A representation is JSON with the items
 * (or the item) under one field: `{"packages":[…]}`, `{"package":{…}}`. Katapult's `*_not_found` is
 * remembered as a not-found with its code; a 304 keeps what is held.
 */

/**
 * Every page of `spec`, mapped: asked conditionally with each held page's ETag when the held entry says
 * what each page held, and merged page by page (a page that answered 304 is taken from the held body:
 * upstream may send shorter pages than `per_page` asked for).
 */
export function listLoader<W, T>(client: KatapultClient, spec: ListSpec<W>, field: string, map: (item: W) => T): Loader {
  return async (previous, cause) => {
    const held = previous?.pages?.length === previous?.upstreamEtags.length ? previous : undefined;
    const conditional = held && held.upstreamEtags.every((e) => e !== null) ? held.upstreamEtags : undefined;
    let res;
    try {
      res = await client.listAll(spec, conditional, cause);
    } catch (err) {
      if (isNotFound(err)) return { kind: 'not_found', code: err.upstreamCode };
      throw err;
    }
    if (res.notModified) return { kind: 'not_modified' };
    const heldPages = res.pages.some((p) => p.items === null) ? splitPages<T>(held!, field) : [];
    const pages = res.pages.map((page, i) => (page.items ? page.items.map(map) : heldPages[i]!));
    return { kind: 'found', body: JSON.stringify({ [field]: pages.flat() }), upstreamEtags: res.pages.map((p) => p.etag), pages: pages.map((p) => p.length) };
  };
}

export interface GetLoaderOptions<W, T> {
  /** The conditional get of the item. */
  fetch: (ifNoneMatch: string | null | undefined, cause: Cause) => Promise<Conditional<W>>;
  /** The representation's field: `{"<field>": item}`. */
  field: string;
  map: (item: W) => T;
  /** How long the item stays fresh (else the engine's freshness). */
  freshMs?: number;
  /** A not-found code when the item must not be served here after all (a scope rule), else null. */
  refuse?: (item: T) => string | null;
}

/** One item's get: conditional on the held ETag. */
export function getLoader<W, T>(opts: GetLoaderOptions<W, T>): Loader {
  return async (previous, cause): Promise<Loaded> => {
    let res;
    try {
      res = await opts.fetch(previous?.upstreamEtags[0], cause);
    } catch (err) {
      if (isNotFound(err)) return { kind: 'not_found', code: err.upstreamCode };
      throw err;
    }
    if (res.notModified) return { kind: 'not_modified', freshMs: opts.freshMs };
    const item = opts.map(res.value);
    const refused = opts.refuse?.(item) ?? null;
    if (refused) return { kind: 'not_found', code: refused };
    return { kind: 'found', body: JSON.stringify({ [opts.field]: item }), upstreamEtags: [res.etag], freshMs: opts.freshMs };
  };
}

/** A held list's items, cut back into the upstream pages they came from. */
function splitPages<T>(list: FoundEntry, field: string): T[][] {
  const all = (JSON.parse(list.body) as Record<string, T[]>)[field]!;
  let at = 0;
  return list.pages!.map((n) => all.slice(at, (at += n)));
}
