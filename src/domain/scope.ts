import { z } from 'zod';

/**
 * The domain's own words: which organization's packages (a scope) and which package (a lookup), with
 * the one parser of each. Every layer (the cache keys, the upstream client, auth, the routes) uses these.
 */

/** Which organization a list is for: only public packages, or an organization by id or sub-domain. */
export type OrgScope = { kind: 'public' } | OrgRef;
/** An organization by `org_…` id or by sub-domain. */
export interface OrgRef {
  kind: 'id' | 'sub_domain';
  value: string;
}
/** A single package, by `vmpkg_…` id or by permalink. */
export interface PackageLookup {
  by: 'id' | 'permalink';
  value: string;
}

export const PUBLIC: OrgScope = { kind: 'public' };

/** `org_…` is an organization id; anything else must be a DNS-label sub-domain (Katapult's are lowercase). */
export const organizationParam = z.union(
  [
    z.string().regex(/^org_[A-Za-z0-9]{1,64}$/).transform((value): OrgRef => ({ kind: 'id', value })),
    z
      .string()
      .transform((v) => v.toLowerCase())
      .pipe(z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/))
      .transform((value): OrgRef => ({ kind: 'sub_domain', value })),
  ],
  { error: 'must be an organization id (org_…) or a sub-domain (letters, digits, hyphens)' },
);

const PACKAGE_ID = /^vmpkg_[A-Za-z0-9]{1,64}$/;
const PERMALINK = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * A package ref: `vmpkg_…` is a package id; anything else of permalink syntax is a permalink such as
 * `rock-3`. Null for text that is neither (`vmpkg_a-b` is a malformed id, not a permalink). The one
 * parser of refs: the router's schema and the cache-hit path both use it.
 */
export function parseRef(text: string): PackageLookup | null {
  if (text.startsWith('vmpkg_')) return PACKAGE_ID.test(text) ? { by: 'id', value: text } : null;
  return PERMALINK.test(text) ? { by: 'permalink', value: text } : null;
}

export const packageRefParam = z.string().transform((text, ctx): PackageLookup => {
  const ref = parseRef(text);
  if (!ref) ctx.addIssue({ code: 'custom', message: 'must be a package id (vmpkg_…) or a permalink (letters, digits, ".", "_", "-")' });
  return ref ?? { by: 'permalink', value: text };
});

