import { createHash } from 'node:crypto';
import type { Package } from '../packages/model.js';

/**
 * Our packages back in Katapult's wire format, field for field in Katapult's order (FACTS.md): the list
 * endpoint's reduced field set, and the get endpoint's full one. Only the icon loses detail: we keep its
 * URL, so it comes back as `{"url":…}`.
 */
export function toWireListItem(p: Package): Record<string, unknown> {
  return {
    id: p.id,
    name: p.name,
    permalink: p.permalink,
    cpu_cores: p.cpuCores,
    ipv4_addresses: p.ipv4Addresses,
    memory_in_gb: p.memoryGb,
    storage_in_gb: p.storageGb,
    privacy: p.privacy,
    icon: p.iconUrl === null ? null : { url: p.iconUrl },
  };
}

export function toWirePackage(p: Package): Record<string, unknown> {
  const { privacy, icon, ...head } = toWireListItem(p);
  return {
    ...head,
    monthly_bandwidth_allowance_in_gb: p.monthlyBandwidthGb,
    privacy,
    icon,
    use_dedicated_cpus: p.dedicatedCpus,
    group: p.group,
  };
}

/** Katapult's ETag: weak, the first 32 hex digits of the SHA-256 of the exact body. */
export function katapultEtag(body: string): string {
  return `W/"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
}

/** What Katapult says for each of its error codes (its own wording, from its schema and recordings). */
export const KATAPULT_ERRORS = {
  missing_api_token: [400, 'No API token was provided in the Authorization header'],
  invalid_argument: [400, 'The argument provided was invalid'],
  invalid_api_token: [403, 'The API token provided was not valid'],
  scope_not_granted: [403, 'The API token does not have the required scope for this request'],
  package_not_found: [404, 'No package was found matching any of the criteria provided in the arguments'],
  organization_not_found: [404, 'No organization was found matching any of the criteria provided in the arguments'],
  route_not_found: [404, 'No route matches the path and method provided'],
  rate_limit_reached: [429, 'You have reached the rate limit for this type of request'],
  service_unavailable: [503, 'The service is currently unavailable'],
} as const satisfies Record<string, readonly [number, string]>;
export type KatapultErrorCode = keyof typeof KATAPULT_ERRORS;
