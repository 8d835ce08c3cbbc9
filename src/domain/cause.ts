/**
 * Why an upstream call is made. The token's budget is shared by everything that uses it, so every call
 * names who it is spent for: a consumer's request, charged to that consumer's share of the budget
 * (`chargeTo`: `key:<name>` for a keyed consumer, `addr:<address>` for an anonymous one), or the
 * service's own background refresh, charged to nobody and held to the governor's background share.
 */
export type Cause = { priority: 'consumer'; chargeTo: string } | { priority: 'background' };

export const BACKGROUND: Cause = { priority: 'background' };

export function chargedTo(chargeTo: string): Cause {
  return { priority: 'consumer', chargeTo };
}

/** The bounded metrics label of a charge: a configured key's name, or `anonymous` (never an address). */
export function chargeLabel(chargeTo: string): string {
  return chargeTo.startsWith('key:') ? chargeTo.slice(4) : 'anonymous';
}
