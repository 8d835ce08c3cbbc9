import type { CacheEngine } from '../cache/engine.js';
import { z } from 'zod';
import { strongEtag, type FoundEntry } from '../cache/entry.js';
import type { Package } from './model.js';
import { packagesOf } from './service.js';

const SORTABLE = ['name', 'cpuCores', 'memoryGb', 'storageGb', 'ipv4Addresses', 'monthlyBandwidthGb'] as const;
const FIELDS = ['id', 'name', 'permalink', 'cpuCores', 'memoryGb', 'storageGb', 'ipv4Addresses', 'monthlyBandwidthGb', 'dedicatedCpus', 'privacy', 'group', 'iconUrl'] as const;

const count = z.string().regex(/^\d{1,6}$/, 'must be a whole number ≥ 0').transform(Number);

/** The conveniences of `GET /packages`, applied to the cached full list: they never cost an upstream call. */
export const listConveniences = {
  group: z.string().min(1).max(128),
  min_cpu_cores: count,
  min_memory_gb: count,
  min_storage_gb: count,
  min_bandwidth_gb: count,
  dedicated: z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true'),
  privacy: z.enum(['public', 'private'], { error: 'must be public or private' }),
  sort: z
    .string()
    .regex(new RegExp(`^-?(${SORTABLE.join('|')})$`), `must be one of ${SORTABLE.join(', ')}, with - in front for descending`),
  fields: z
    .string()
    .transform((v) => v.split(','))
    .pipe(z.array(z.enum(FIELDS, { error: `must list fields among ${FIELDS.join(', ')}` })).min(1)),
  group_by: z.enum(['group'], { error: 'must be group' }),
};

export type ListConveniences = { [K in keyof typeof listConveniences]?: z.output<(typeof listConveniences)[K]> };

/**
 * Filters (a package whose field is null never passes a filter on it), then sorts (nulls last, ties keep
 * upstream order), then trims fields. Results are kept in L1's share for derived answers, per (entry,
 * query): a repeated query costs a lookup, and every shape kept is counted in L1's bytes and bounded by them.
 */
export class ListShaper {
  constructor(private readonly cache: Pick<CacheEngine, 'derived' | 'keepDerived'>) {}

  shape(entry: FoundEntry, q: ListConveniences): FoundEntry {
    const key = `${entry.etag}|${entry.storedAt}|${JSON.stringify(q)}`;
    const held = this.cache.derived(key);
    if (held) return held;
    // Grouped on the whole packages, so trimming `fields` cannot hide the group a package belongs to.
    const selected = select(packagesOf(entry), q);
    const trim = (packages: Array<Partial<Package>>) => (q.fields ? packages.map((p) => keep(p, q.fields!)) : packages);
    const body = JSON.stringify(q.group_by ? { groups: byGroup(selected).map((g) => ({ ...g, packages: trim(g.packages) })) } : { packages: trim(selected) });
    const shaped = { ...entry, body, etag: strongEtag(body) };
    this.cache.keepDerived(key, shaped);
    return shaped;
  }
}

/** The packages that pass `q`'s filters, in `q`'s order (upstream order when unsorted, ties too). */
function select(all: Package[], q: ListConveniences): Package[] {
  const group = q.group?.toLowerCase();
  let out = all.filter(
    (p) =>
      (group === undefined || (p.group !== null && (p.group.id.toLowerCase() === group || p.group.name?.toLowerCase() === group))) &&
      atLeast(p.cpuCores, q.min_cpu_cores) &&
      atLeast(p.memoryGb, q.min_memory_gb) &&
      atLeast(p.storageGb, q.min_storage_gb) &&
      atLeast(p.monthlyBandwidthGb, q.min_bandwidth_gb) &&
      (q.dedicated === undefined || p.dedicatedCpus === q.dedicated) &&
      (q.privacy === undefined || p.privacy === q.privacy),
  );
  if (q.sort) {
    const desc = q.sort.startsWith('-');
    const field = (desc ? q.sort.slice(1) : q.sort) as (typeof SORTABLE)[number];
    out = out
      .map((p, i) => ({ p, i }))
      .sort((a, b) => compare(a.p[field], b.p[field], desc) || a.i - b.i)
      .map(({ p }) => p);
  }
  return out;
}

function keep(p: Partial<Package>, fields: ReadonlyArray<keyof Package>): Partial<Package> {
  return Object.fromEntries(fields.map((f) => [f, p[f]])) as Partial<Package>;
}

/**
 * A picker's view: the groups in the order the list first names them, each with its packages in list
 * order; packages whose group is not known (no detail yet, or none upstream) last, under a null group.
 */
export function byGroup(packages: Array<Partial<Package>>): Array<{ id: string | null; name: string | null; packages: Array<Partial<Package>> }> {
  const groups = new Map<string | null, { id: string | null; name: string | null; packages: Array<Partial<Package>> }>();
  for (const p of packages) {
    const id = p.group?.id ?? null;
    if (!groups.has(id)) groups.set(id, { id, name: p.group?.name ?? null, packages: [] });
    groups.get(id)!.packages.push(p);
  }
  const unknown = groups.get(null);
  groups.delete(null);
  return [...groups.values(), ...(unknown ? [unknown] : [])];
}

function atLeast(value: number | null, min: number | undefined): boolean {
  return min === undefined || (value !== null && value >= min);
}

function compare(a: string | number | null, b: string | number | null, desc: boolean): number {
  if (a === b) return 0;
  if (a === null) return 1; // nulls last, either direction
  if (b === null) return -1;
  const order = typeof a === 'string' ? a.localeCompare(String(b), 'en', { numeric: true }) : a - (b as number);
  return desc ? -order : order;
}
