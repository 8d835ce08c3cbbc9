import { z } from 'zod';
import type { Cause } from '../domain/cause.js';
import type { OrgScope } from '../domain/scope.js';
import type { PackageLookup } from './ref.js';
import { PER_PAGE, type KatapultClient, type ListSpec } from '../upstream/katapult-client.js';
import { count, field, text, wirePagination } from '../upstream/wire.js';

/**
 * Katapult's virtual machine packages as they arrive (FACTS.md: the list endpoint sends a reduced field
 * set, the get every field; both URL forms of the get answer the same), and the two requests for them.
 */
/**
 * Strings and arrays are bounded by what Katapult sends: ids of a few dozen characters, names and
 * permalinks of a few words, icon URLs, pages of at most `per_page` (200) items. A longer string becomes
 * null like any unusable field; a page with more items is a malformed body.
 */
export const wirePackage = z.object({
  id: z.string().min(1).max(128),
  name: text(255),
  permalink: text(255),
  cpu_cores: count,
  ipv4_addresses: count,
  memory_in_gb: count,
  storage_in_gb: count,
  monthly_bandwidth_allowance_in_gb: count,
  privacy: field(z.enum(['public', 'private'])),
  icon: field(z.object({ url: text(2048) })),
  use_dedicated_cpus: field(z.boolean()),
  group: field(z.object({ id: z.string().max(128), name: text(255) })),
});
export type WirePackage = z.output<typeof wirePackage>;

const listPage = z
  .object({ pagination: wirePagination, virtual_machine_packages: z.array(wirePackage).max(PER_PAGE) })
  .transform((p) => ({ pagination: p.pagination, items: p.virtual_machine_packages }));

const getBody = z.object({ virtual_machine_package: wirePackage }).transform((b) => b.virtual_machine_package);

/** `GET /virtual_machine_packages?organization[…]=…`: every page of a scope's list. */
export function packageList(scope: OrgScope): ListSpec<WirePackage> {
  const params = new URLSearchParams();
  if (scope.kind !== 'public') params.set(`organization[${scope.kind}]`, scope.value);
  return { endpoint: 'list', path: '/virtual_machine_packages', params, page: listPage };
}

/** `GET /virtual_machine_packages/virtual_machine_package?virtual_machine_package[id|permalink]=…` */
export function getPackage(client: KatapultClient, lookup: PackageLookup, ifNoneMatch: string | null | undefined, cause: Cause) {
  const params = new URLSearchParams({ [`virtual_machine_package[${lookup.by}]`]: lookup.value });
  return client.get({ endpoint: 'get', path: '/virtual_machine_packages/virtual_machine_package', params, schema: getBody }, ifNoneMatch, cause);
}
