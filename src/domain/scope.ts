import { z } from 'zod';

/**
 * The domain's own words: whose items (a scope: public, or an organization by id or sub-domain), with its
 * one parser. Every layer (the cache keys, the upstream client, auth, the routes) and every resource uses it.
 */

/** Whose items: only public ones, or an organization's (its private ones too), by id or sub-domain. */
export type OrgScope = { kind: 'public' } | OrgRef;
/** An organization by `org_…` id or by sub-domain. */
export interface OrgRef {
  kind: 'id' | 'sub_domain';
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
