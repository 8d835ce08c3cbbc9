/**
 * A claim listing the organizations a user or workload may read (`katapult_orgs` by default): a JSON array
 * of strings, or a space-separated string of ids or sub-domains. Bounded: 100 entries of 64 characters.
 */
export function organizationsOf(claim: unknown): string[] {
  const all = Array.isArray(claim) ? claim : typeof claim === 'string' ? claim.split(' ') : [];
  return all.filter((o): o is string => typeof o === 'string' && o.length > 0 && o.length <= 64).slice(0, 100);
}
