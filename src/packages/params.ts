import { z } from 'zod';
import type { OrgRef, OrgScope, PackageLookup } from '../upstream/katapult-client.js';
import { listConveniences } from './list-query.js';

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

/** The query of `GET /packages/{ref}`: which organization to look in. */
export const scopeQuery = z.strictObject({
  organization: organizationParam.optional().meta({ description: 'Organization id (org_…) or sub-domain; needs a key that lists it' }),
});

/** The query of `GET /packages`: the scope, then conveniences applied to the cached list. */
export const listQuery = z.strictObject({
  organization: scopeQuery.shape.organization,
  group: listConveniences.group.optional().meta({ description: 'Group id or name (Katapult\'s list does not send groups)' }),
  min_cpu_cores: listConveniences.min_cpu_cores.optional(),
  min_memory_gb: listConveniences.min_memory_gb.optional(),
  min_storage_gb: listConveniences.min_storage_gb.optional(),
  dedicated: listConveniences.dedicated.optional(),
  privacy: listConveniences.privacy.optional(),
  sort: listConveniences.sort.optional().meta({ description: 'A field, with - in front for descending' }),
  fields: listConveniences.fields.optional().meta({ description: 'Comma-separated fields to keep' }),
});
