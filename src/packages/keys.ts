import { cacheKey, keyPatterns } from '../cache/keys.js';
import { PUBLIC, type OrgScope } from '../domain/scope.js';
import { type PackageLookup } from './ref.js';
import type { PurgeTarget } from '../resource/resource.js';

/**
 * The packages' key space: a scope's list, and a package's detail (its get) under its id, whichever ref
 * it is asked by: the scope's list maps a permalink to the id (`service.ts`).
 */
const LIST = 'list';
const PACKAGE = 'pkg';

const item = (lookup: PackageLookup) => `${lookup.by}=${encodeURIComponent(lookup.value)}`;

export function listKey(scope: OrgScope): string {
  return cacheKey(LIST, scope);
}

/**
 * The scope a package's detail is kept in: a public package's is the public scope's, one entry shared by
 * every list and every organization that asks for it; a private one is its organization's.
 */
export function detailScope(p: { privacy: string | null }, scope: OrgScope): OrgScope {
  return p.privacy === 'public' ? PUBLIC : scope;
}

/** A listed package's detail entry, the one its gets and every list that holds it use. */
export function detailKey(p: { id: string; privacy: string | null }, scope: OrgScope): string {
  return cacheKey(PACKAGE, detailScope(p, scope), item({ by: 'id', value: p.id }));
}

/**
 * A package's entries (under its id, in every scope) and every list, which holds it. `ids` are the
 * package ids the target names: itself for an id, those that held lists give a permalink.
 */
export function purgePatterns(target: PurgeTarget, ids: string[] = []): string[] {
  if ('item' in target) return [...keyPatterns(LIST, { all: true }), ...ids.flatMap((id) => keyPatterns(PACKAGE, { item: item({ by: 'id', value: id }) }))];
  return [LIST, PACKAGE].flatMap((ns) => keyPatterns(ns, target));
}

/** Every list's key, for finding what a permalink names. */
export const LIST_PATTERNS = keyPatterns(LIST, { all: true });
