import type { OrgRef, OrgScope } from '../domain/scope.js';

/**
 * Every Redis key and pattern. Cache keys are versioned (bump when the entry or representation changes)
 * and always carry the organization scope, so an organization's private items can never answer another
 * scope's request; each resource names its own namespaces (e.g. `packages/keys.ts`).
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

/** The live instances' heartbeats (`coordination/fleet.ts`), beside the budget they divide when Redis is away. */
export const FLEET_KEY = `${BUDGET_KEY}:instances`;

/** A consumer's request bucket (`auth/rate-limit.ts`). */
export function bucketKey(consumer: string): string {
  return `${PREFIX}{rl:${encodeURIComponent(consumer)}}`;
}

/** A consumer's request count in one clock minute, on the compatible surface (`MinuteWindow`). */
export function windowKey(consumer: string, minute: number): string {
  return `${PREFIX}{rl:${encodeURIComponent(consumer)}}:window:${minute}`;
}

/**
 * A consumer's count of upstream calls in one clock minute (`upstream/consumer-share.ts`): beside the
 * budget's count, under its hash tag, so one script checks and counts both.
 */
export function shareKey(chargeTo: string, minute: number): string {
  return `${BUDGET_KEY}:share:${encodeURIComponent(chargeTo)}:${minute}`;
}

/** A cached item's key: its resource's namespace, the scope, and the item within it (none for a list). */
export function cacheKey(namespace: string, scope: OrgScope, item?: string): string {
  return `${PREFIX}{${namespace}:${scopePart(scope)}${item === undefined ? '' : `:${item}`}}`;
}

/** What a purge names: everything, one organization's scope, or one item (in every scope). */
export type KeySelection = { all: true } | { organization: OrgRef } | { item: string };

/** The key patterns (Redis globs, `*` only) of a purge in `namespace`, built from the same parts as the keys. */
export function keyPatterns(namespace: string, of: KeySelection): string[] {
  if ('all' in of) return [`${PREFIX}{${namespace}:*}`];
  if ('organization' in of) {
    const scope = scopePart(of.organization);
    return [`${PREFIX}{${namespace}:${scope}}`, `${PREFIX}{${namespace}:${scope}:*}`];
  }
  return [`${PREFIX}{${namespace}:*:${of.item}}`];
}

/** A key pattern (a Redis glob with `*` only: the patterns built here never hold `?` or `[`) as a regular expression, for L1's keys. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}
