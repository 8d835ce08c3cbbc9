/** API keys the test stacks are configured with. */
export const OPS_KEY = 'ops-key-0123456789abcdef';
export const ACME_KEY = 'acme-key-0123456789abcdef';
export const API_KEYS = `ops:${OPS_KEY}:*,acme-app:${ACME_KEY}:acme|org_Ac7meCoRp0rat10n`;
export const asOps = { authorization: `Bearer ${OPS_KEY}` };
