import type { CacheEngine, Loader } from '../cache/engine.js';
import { decodedOnce, type FoundEntry, type Served } from '../cache/entry.js';
import { detailKey, detailScope, listKey } from './keys.js';
import type { Cause } from '../domain/cause.js';
import type { OrgScope } from '../domain/scope.js';
import type { PackageLookup } from './ref.js';
import type { KatapultClient } from '../upstream/katapult-client.js';
import { getLoader, listLoader } from '../upstream/loaders.js';
import { toPackage, type Package } from './model.js';
import { getPackage, packageList } from './wire.js';

/** A list entry's packages, and a package entry's package: each body decoded once per entry. */
export const packagesOf = decodedOnce((body) => (JSON.parse(body) as { packages: Package[] }).packages);
export const packageOf = decodedOnce((body) => (JSON.parse(body) as { package: Package }).package);

/** A list's packages by ref (`id=…`, `permalink=…`), made once per list entry. */
const membersOf = decodedOnce((body) => {
  const members = new Map<string, Package>();
  for (const p of (JSON.parse(body) as { packages: Package[] }).packages) {
    members.set(`id=${p.id}`, p);
    if (p.permalink !== null) members.set(`permalink=${p.permalink}`, p);
  }
  return members;
});

/**
 * The package `lookup` names in `list`, by id or permalink; undefined when the list does not name it.
 * The one way a ref becomes a package: the router, the compatible surface and the hit path all use it.
 */
export function memberOf(list: FoundEntry, lookup: PackageLookup): Package | undefined {
  return membersOf(list).get(`${lookup.by}=${lookup.value}`);
}

/**
 * Packages on the cache engine: what to load for a key (the list walk, the get) and how a ref is found
 * through the scope's list. Every timing, coalescing and fleet rule is the engine's.
 */
export class PackageService {
  constructor(
    private readonly engine: CacheEngine,
    private readonly client: KatapultClient,
    /** How long a package's detail stays fresh (`CACHE_DETAIL_FRESH_SECONDS`). */
    private readonly detailFreshMs: number,
  ) {}

  /** Every package visible in `scope`, in upstream order. */
  list(scope: OrgScope, cause: Cause): Promise<Served> {
    return this.engine.resolve(listKey(scope), this.#listLoader(scope), cause);
  }

  /**
   * One package, by id or permalink. The scope's list says which packages exist there (Katapult's list
   * names every package of a scope) and maps a permalink to its id, so a package has one entry however
   * it is asked for: its detail under its id, the entry the lists' details fill (`details.ts`). A ref the
   * list does not name is answered 404 without asking upstream; only a listed package costs a get.
   * Outside an organization scope only public packages are found.
   */
  async get(lookup: PackageLookup, scope: OrgScope, cause: Cause): Promise<Served> {
    const listed = await this.#listed(lookup, scope, cause);
    if (!('id' in listed)) return this.engine.report(listed);
    return this.engine.resolve(detailKey(listed, scope), this.detailLoader(listed.id, detailScope(listed, scope)), cause);
  }

  /**
   * What loads one listed package's detail (the get by id) in its detail scope: also what fills the lists'
   * details. Its scope was decided by the list; Katapult's get takes no organization.
   */
  detailLoader(id: string, scope: OrgScope): Loader {
    return getLoader({
      fetch: (ifNoneMatch, cause) => getPackage(this.client, { by: 'id', value: id }, ifNoneMatch, cause),
      field: 'package',
      map: toPackage,
      freshMs: this.detailFreshMs,
      // A package listed as public that has become private since stays out of the public scope.
      refuse: (pkg) => (pkg.privacy !== 'public' && scope.kind === 'public' ? 'package_not_found' : null),
    });
  }

  #listLoader(scope: OrgScope): Loader {
    return listLoader(this.client, packageList(scope), 'packages', toPackage);
  }

  /**
   * The package the scope's list names for `lookup`; otherwise the answer: the list's own
   * `organization_not_found`, or a `package_not_found` decided by the list, with no upstream call. A
   * list held stale (until `staleUntil`) still answers; when it does not name the ref, it is refreshed
   * in the background (once, however many unknown refs arrive), so a package created upstream since
   * becomes visible. Only a scope whose list is not held at all costs a list fetch, charged to `cause`.
   */
  async #listed(lookup: PackageLookup, scope: OrgScope, cause: Cause): Promise<Package | Served> {
    const key = listKey(scope);
    const held = await this.engine.held(key);
    const list = held ?? (await this.engine.lookup(key, this.#listLoader(scope), cause));
    const served: Served = { entry: list.entry, status: 'HIT', tier: list.tier, refreshError: null, coalesced: false };
    if (list.entry.kind === 'not_found') return served;
    const member = memberOf(list.entry, lookup);
    if (member) return member;
    if (held) this.engine.refreshIfExpired(key, this.#listLoader(scope), held.entry);
    const { storedAt, freshUntil } = list.entry;
    return { ...served, entry: { kind: 'not_found', code: 'package_not_found', etag: '', storedAt, freshUntil, staleUntil: freshUntil } };
  }
}
