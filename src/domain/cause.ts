/**
 * Why an upstream call is made. The token's budget is shared by everything that uses it, so every call
 * names who it is spent for: a consumer's request, charged to that consumer's share of the budget
 * (`chargeTo`: `key:<name>` for a keyed consumer, `addr:<address>` for an anonymous one), or the
 * service's own work, charged to nobody and held to the governor's shares: `background`, the refresh of
 * an entry consumers asked for (refresh-ahead, stale-while-revalidate), and `upkeep`, keeping the lists'
 * details fresh, which stops earlier so the refreshes of hot keys always keep their part.
 */
export type Cause = ConsumerCause | { priority: 'background' } | { priority: 'upkeep' };

/** Who an upstream call is for, highest first: the governor's shares are by priority. */
export type Priority = Cause['priority'];

export interface ConsumerCause {
  priority: 'consumer';
  chargeTo: string;
  /**
   * When the consumer stops waiting (epoch ms on the service clock): every wait on upstream its request
   * makes, queue and exchange, ends by then. None for work nobody waits on.
   */
  deadline?: number;
}

export const BACKGROUND: Cause = { priority: 'background' };
export const UPKEEP: Cause = { priority: 'upkeep' };

export function chargedTo(chargeTo: string, deadline?: number): ConsumerCause {
  return deadline === undefined ? { priority: 'consumer', chargeTo } : { priority: 'consumer', chargeTo, deadline };
}

/**
 * The bounded metrics label of a charge: a configured key's name, `jwt` for every workload token's
 * subject, `user` for every signed-in user, or `anonymous` (never an address).
 */
export function chargeLabel(chargeTo: string): string {
  if (chargeTo.startsWith('key:jwt:')) return 'jwt';
  if (chargeTo.startsWith('key:user:')) return 'user';
  return chargeTo.startsWith('key:') ? chargeTo.slice(4) : 'anonymous';
}
