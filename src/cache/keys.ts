import type { OrgScope, PackageLookup } from '../domain/scope.js';

/**
 * Cache keys. Versioned (bump when the entry or representation changes) and always carrying the
 * organization scope, so an organization's private packages can never answer another scope's request.
 * The `{…}` hash tag keeps an entry and its lock in one Redis Cluster slot.
 */
const PREFIX = 'kbff:v1:';

function scopePart(scope: OrgScope): string {
  return scope.kind === 'public' ? 'public' : `org-${scope.kind}=${encodeURIComponent(scope.value)}`;
}

export function listKey(scope: OrgScope): string {
  return `${PREFIX}{list:${scopePart(scope)}}`;
}

export function packageKey(lookup: PackageLookup, scope: OrgScope): string {
  return `${PREFIX}{pkg:${scopePart(scope)}:${lookup.by}=${encodeURIComponent(lookup.value)}}`;
}
