import type { CacheEngine, Loaded, Loader } from '../cache/engine.js';
import { decodedOnce, type FoundEntry, type Served } from '../cache/entry.js';
import { listKey, packageKey } from './keys.js';
import type { Cause } from '../domain/cause.js';
import type { OrgScope, PackageLookup } from '../domain/scope.js';
import { isNotFound } from '../upstream/errors.js';
import type { KatapultClient } from '../upstream/katapult-client.js';
import { toPackage, type Package } from './model.js';
import { getPackage, packageList } from './wire.js';

/** A list entry's packages, and a package entry's package: each body decoded once per entry. */
export const packagesOf = decodedOnce((body) => (JSON.parse(body) as { packages: Package[] }).packages);
export const packageOf = decodedOnce((body) => (JSON.parse(body) as { package: Package }).package);

/** A list's ids and permalinks (`id=…`, `permalink=…`), made once per list entry. */
const membersOf = (() => {
  const memo = new WeakMap<FoundEntry, Set<string>>();
  return (list: FoundEntry): Set<string> => {
    let members = memo.get(list);
    if (!members) {
      members = new Set(packagesOf(list).flatMap((p) => (p.permalink === null ? [`id=${p.id}`] : [`id=${p.id}`, `permalink=${p.permalink}`])));
      memo.set(list, members);
    }
    return members;
  };
})();

/**
 * Packages on the cache engine: what to load for a key (the list walk, the get) and what the list says
 * about a get before anything is loaded. Every timing, coalescing and fleet rule is the engine's.
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
   * One package. The scope's list says which packages exist there (Katapult's list names every package
   * of a scope), so a ref it does not hold is answered 404 without asking upstream, and only a listed
   * ref costs a get. Outside an organization scope only public packages are found.
   */
  get(lookup: PackageLookup, scope: OrgScope, cause: Cause): Promise<Served> {
    return this.engine.resolve(packageKey(lookup, scope), this.detailLoader(lookup, scope), cause, () => this.#unlisted(lookup, scope, cause));
  }

  /** What loads one package's detail (the get): also what fills the lists' details (`details.ts`). */
  detailLoader(lookup: PackageLookup, scope: OrgScope): Loader {
    return (previous, cause) => this.#loadPackage(lookup, scope, previous, cause);
  }

  /** Resolves once every refresh running now has finished (background ones included). */
  settle(): Promise<void> {
    return this.engine.settle();
  }

  #listLoader(scope: OrgScope): Loader {
    return (previous, cause) => this.#loadList(scope, previous, cause);
  }

  /** The scope's list, held or fetched (one coalesced call for the scope), with `cause` paying for a fetch. */
  #listOf(scope: OrgScope, cause: Cause): Promise<Served> {
    return this.engine.lookup(listKey(scope), this.#listLoader(scope), cause);
  }

  /**
   * Null when the scope's list names `lookup` (a get may go upstream); otherwise the answer: the list's
   * own `organization_not_found`, or a `package_not_found` decided by the list, with no upstream call.
   * A list held stale (until `staleUntil`) still answers; when it does not name the ref, it is refreshed
   * in the background (once, however many unknown refs arrive), so a package created upstream since
   * becomes visible. Only a scope whose list is not held at all costs a list fetch, charged to `cause`.
   */
  async #unlisted(lookup: PackageLookup, scope: OrgScope, cause: Cause): Promise<Served | null> {
    const key = listKey(scope);
    const held = await this.engine.held(key);
    const list = held ?? (await this.#listOf(scope, cause));
    const served: Served = { entry: list.entry, status: 'HIT', tier: list.tier, refreshError: null, coalesced: false };
    if (list.entry.kind === 'not_found') return served;
    if (membersOf(list.entry).has(`${lookup.by}=${lookup.value}`)) return null;
    if (held) this.engine.refreshIfExpired(key, this.#listLoader(scope), held.entry);
    const { storedAt, freshUntil } = list.entry;
    return { ...served, entry: { kind: 'not_found', code: 'package_not_found', etag: '', storedAt, freshUntil, staleUntil: freshUntil } };
  }

  async #loadList(scope: OrgScope, previous: FoundEntry | undefined, cause: Cause): Promise<Loaded> {
    // Conditional only when we know what each held page contained: a 304 page is taken from the held body.
    const held = previous?.pages?.length === previous?.upstreamEtags.length ? previous : undefined;
    const conditional = held && held.upstreamEtags.every((e) => e !== null) ? held.upstreamEtags : undefined;
    let res;
    try {
      res = await this.client.listAll(packageList(scope), conditional, cause);
    } catch (err) {
      if (isNotFound(err)) return { kind: 'not_found', code: err.kind };
      throw err;
    }
    if (res.notModified) return { kind: 'not_modified' };
    const heldPages = res.pages.some((p) => p.items === null) ? splitPages(held!) : [];
    // Merged page by page by what each page held: upstream may send shorter pages than `per_page` asked for.
    const pages = res.pages.map((page, i) => (page.items ? page.items.map(toPackage) : heldPages[i]!));
    return { kind: 'found', body: JSON.stringify({ packages: pages.flat() }), upstreamEtags: res.pages.map((p) => p.etag), pages: pages.map((p) => p.length) };
  }

  async #loadPackage(lookup: PackageLookup, scope: OrgScope, previous: FoundEntry | undefined, cause: Cause): Promise<Loaded> {
    let res;
    try {
      res = await getPackage(this.client, lookup, previous?.upstreamEtags[0], cause);
    } catch (err) {
      if (isNotFound(err)) return { kind: 'not_found', code: err.kind };
      throw err;
    }
    if (res.notModified) return { kind: 'not_modified', freshMs: this.detailFreshMs };
    const pkg = toPackage(res.value);
    if (pkg.privacy !== 'public') {
      // Katapult's get takes no organization: the scope check is ours, so private packages stay private.
      if (scope.kind === 'public') return { kind: 'not_found', code: 'package_not_found' };
      const list = await this.#listOf(scope, cause);
      if (list.entry.kind === 'not_found') return { kind: 'not_found', code: list.entry.code };
      if (!membersOf(list.entry).has(`id=${pkg.id}`)) return { kind: 'not_found', code: 'package_not_found' };
    }
    return { kind: 'found', body: JSON.stringify({ package: pkg }), upstreamEtags: [res.etag], freshMs: this.detailFreshMs };
  }
}

/** A held list's packages, cut back into the upstream pages they came from. */
function splitPages(list: FoundEntry): Package[][] {
  const all = packagesOf(list);
  let at = 0;
  return list.pages!.map((n) => all.slice(at, (at += n)));
}
