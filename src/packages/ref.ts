import { z } from 'zod';

/** A single package, by `vmpkg_…` id or by permalink. */
export interface PackageLookup {
  by: 'id' | 'permalink';
  value: string;
}

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

