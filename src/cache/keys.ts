import type { OrgRef, OrgScope, PackageLookup } from '../domain/scope.js';

/**
 * Cache keys. Versioned (bump when the entry or representation changes) and always carrying the
 * organization scope, so an organization's private packages can never answer another scope's request.
 * The `{…}` hash tag keeps an entry and its lock in one Redis Cluster slot.
 */
const PREFIX = 'kbff:v1:';

function scopePart(scope: OrgScope): string {
  return scope.kind === 'public' ? 'public' : `org-${scope.kind}=${encodeURIComponent(scope.value)}`;
}

/** Where instances tell each other that an entry changed or was purged (see coordination/invalidation.ts). */
export const INVALIDATION_CHANNEL = `${PREFIX}invalidate`;

/** The budget governor's counters and its block after a 429: `<key>:count:<minute>`, `<key>:blocked`. */
export const BUDGET_KEY = `${PREFIX}{budget}`;

/** A consumer's request bucket (`auth/rate-limit.ts`). */
export function bucketKey(consumer: string): string {
  return `${PREFIX}{rl:${encodeURIComponent(consumer)}}`;
}

/** A consumer's count of upstream calls in one clock minute (`upstream/consumer-share.ts`). */
export function shareKey(chargeTo: string, minute: number): string {
  return `${PREFIX}{share:${encodeURIComponent(chargeTo)}}:${minute}`;
}

export function listKey(scope: OrgScope): string {
  return `${PREFIX}{list:${scopePart(scope)}}`;
}

export function packageKey(lookup: PackageLookup, scope: OrgScope): string {
  return `${PREFIX}{pkg:${scopePart(scope)}:${lookup.by}=${encodeURIComponent(lookup.value)}}`;
}

export type PurgeTarget = { all: true } | { organization: OrgRef } | { package: PackageLookup };

/**
 * The key patterns (Redis globs, `*` only) a purge covers, built from the same parts as the keys. A
 * package is cached under the form it was asked by (id or permalink) in every scope; lists hold every
 * package, so they go too.
 */
export function purgePatterns(target: PurgeTarget): string[] {
  if ('all' in target) return [`${PREFIX}{list:*}`, `${PREFIX}{pkg:*}`];
  if ('organization' in target) {
    const scope = scopePart(target.organization);
    return [`${PREFIX}{list:${scope}}`, `${PREFIX}{pkg:${scope}:*}`];
  }
  return [`${PREFIX}{list:*}`, `${PREFIX}{pkg:*:${target.package.by}=${encodeURIComponent(target.package.value)}}`];
}
