import { z } from 'zod';
import type { OrgRef, OrgScope, PackageLookup } from '../upstream/katapult-client.js';

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

/** `vmpkg_…` is a package id; anything else is a permalink such as `rock-3`. */
export const packageRefParam = z.union(
  [
    z.string().regex(/^vmpkg_[A-Za-z0-9]{1,64}$/).transform((value): PackageLookup => ({ by: 'id', value })),
    z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/)
      .refine((v) => !v.startsWith('vmpkg_'))
      .transform((value): PackageLookup => ({ by: 'permalink', value })),
  ],
  { error: 'must be a package id (vmpkg_…) or a permalink (letters, digits, ".", "_", "-")' },
);
