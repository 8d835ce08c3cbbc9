import { cacheKey, keyPatterns } from '../cache/keys.js';
import type { OrgScope, PackageLookup } from '../domain/scope.js';
import type { PurgeTarget } from '../resource/resource.js';

/** The packages' key space: a scope's list, and a package in a scope under the form it was asked by. */
const LIST = 'list';
const PACKAGE = 'pkg';

const item = (lookup: PackageLookup) => `${lookup.by}=${encodeURIComponent(lookup.value)}`;

export function listKey(scope: OrgScope): string {
  return cacheKey(LIST, scope);
}

export function packageKey(lookup: PackageLookup, scope: OrgScope): string {
  return cacheKey(PACKAGE, scope, item(lookup));
}

/** A package is cached in every scope under the form it was asked by; every list holds it, so they go too. */
export function purgePatterns(target: PurgeTarget): string[] {
  if ('package' in target) return [...keyPatterns(LIST, { all: true }), ...keyPatterns(PACKAGE, { item: item(target.package) })];
  return [LIST, PACKAGE].flatMap((ns) => keyPatterns(ns, target));
}
