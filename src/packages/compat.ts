import type { Hono } from 'hono';
import type { Consumer } from '../config/api-keys.js';
import type { Cause, ConsumerCause } from '../domain/cause.js';
import { organizationParam, PUBLIC, type OrgScope } from '../domain/scope.js';
import { parseRef, type PackageLookup } from './ref.js';
import type { AppContext, AppEnv } from '../http/context.js';
import { intArg, KatapultError, organizationOf, type CompatKit } from '../katapult-compat/surface.js';
import type { Package } from './model.js';
import { packageOf, packagesOf, type PackageService } from './service.js';

/**
 * The package endpoints of Katapult core/v1, answered from this service's cache with Katapult's bytes:
 * the list in its reduced field set and its pagination, the get in both URL forms real clients use
 * (`/virtual_machine_package`, and `/_` of the older go-katapult).
 */
export function mountPackageCompat(deps: { packages: PackageService; causeOf: (c: AppContext) => ConsumerCause }) {
  return (routes: Hono<AppEnv>, kit: CompatKit): void => {
    routes.get('/core/v1/virtual_machine_packages', (c) =>
      kit.answer(c, async () => {
        const q = new URL(c.req.url).searchParams;
        const scope = organizationOf(q);
        const page = intArg(q, 'page', 1);
        const perPage = intArg(q, 'per_page', 30);
        if (page < 1 || perPage < 1 || perPage > 200) throw new KatapultError('invalid_argument', { issue: 'validation_errors' });
        kit.authorize(c, scope);
        const all = packagesOf(kit.found(await deps.packages.list(scope, deps.causeOf(c))));
        const total = all.length;
        return JSON.stringify({
          pagination: { current_page: page, total_pages: Math.max(1, Math.ceil(total / perPage)), total, per_page: perPage, large_set: false },
          virtual_machine_packages: all.slice((page - 1) * perPage, page * perPage).map(toWireListItem),
        });
      }),
    );

    // As in Apia, without a lookup key in the query the path segment is the id (so a bare `/_` finds nothing).
    routes.get('/core/v1/virtual_machine_packages/:segment', (c) =>
      kit.answer(c, async () => {
        const q = new URL(c.req.url).searchParams;
        const segment = c.req.param('segment');
        const lookup = lookupOf(q, segment === 'virtual_machine_package' ? null : segment);
        kit.authorize(c, PUBLIC);
        const pkg = await findPackage(deps.packages, lookup, c.get('consumer'), deps.causeOf(c));
        return JSON.stringify({ virtual_machine_package: toWirePackage(pkg) });
      }),
    );
  };
}

/**
 * A package by id or permalink. Public packages for anyone; a private one only inside an organization
 * that the consumer's key lists by name (a `*` key cannot say which organizations to look in).
 */
async function findPackage(packages: PackageService, lookup: PackageLookup, consumer: Consumer | null, cause: Cause): Promise<Package> {
  const scopes: OrgScope[] = [PUBLIC];
  if (consumer && consumer.scopes !== '*') {
    for (const s of consumer.scopes) {
      const scope = organizationParam.safeParse(s);
      if (scope.success) scopes.push(scope.data);
    }
  }
  for (const scope of scopes) {
    const served = await packages.get(lookup, scope, cause);
    if (served.entry.kind === 'found') return packageOf(served.entry);
  }
  throw new KatapultError('package_not_found');
}

function lookupOf(q: URLSearchParams, segment: string | null): PackageLookup {
  const id = q.get('virtual_machine_package[id]');
  const permalink = q.get('virtual_machine_package[permalink]');
  if (id !== null && permalink !== null) throw new KatapultError('invalid_argument', { issue: 'ambiguous_lookup_values' });
  const value = id ?? permalink ?? segment;
  // The router's one ref grammar: a value that cannot name a package the way it is asked is not found.
  const ref = value === null ? null : parseRef(value);
  if (!ref || ref.by !== (permalink !== null ? 'permalink' : 'id')) throw new KatapultError('package_not_found');
  return ref;
}

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
