import { LRUCache } from 'lru-cache';
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
  dedicated: z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true'),
  privacy: z.enum(['public', 'private'], { error: 'must be public or private' }),
  sort: z
    .string()
    .regex(new RegExp(`^-?(${SORTABLE.join('|')})$`), `must be one of ${SORTABLE.join(', ')}, with - in front for descending`),
  fields: z
    .string()
    .transform((v) => v.split(','))
    .pipe(z.array(z.enum(FIELDS, { error: `must list fields among ${FIELDS.join(', ')}` })).min(1)),
};

export type ListConveniences = { [K in keyof typeof listConveniences]?: z.output<(typeof listConveniences)[K]> };

/**
 * Filters (a package whose field is null never passes a filter on it), then sorts (nulls last, ties keep
 * upstream order), then trims fields. Results are kept per (entry, query), so a repeated query costs a lookup.
 */
export class ListShaper {
  readonly #memo = new LRUCache<string, FoundEntry>({ max: 1000 });

  shape(entry: FoundEntry, q: ListConveniences): FoundEntry {
    const memoKey = `${entry.etag}|${JSON.stringify(q)}`;
    const hit = this.#memo.get(memoKey);
    if (hit && hit.storedAt === entry.storedAt) return hit;
    const body = JSON.stringify({ packages: apply(packagesOf(entry), q) });
    const shaped = { ...entry, body, etag: strongEtag(body) };
    this.#memo.set(memoKey, shaped);
    return shaped;
  }
}

export function apply(all: Package[], q: ListConveniences): Array<Partial<Package>> {
  const group = q.group?.toLowerCase();
  let out = all.filter(
    (p) =>
      (group === undefined || (p.group !== null && (p.group.id.toLowerCase() === group || p.group.name?.toLowerCase() === group))) &&
      atLeast(p.cpuCores, q.min_cpu_cores) &&
      atLeast(p.memoryGb, q.min_memory_gb) &&
      atLeast(p.storageGb, q.min_storage_gb) &&
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
  if (!q.fields) return out;
  const fields = q.fields;
  return out.map((p) => Object.fromEntries(fields.map((f) => [f, p[f]])) as Partial<Package>);
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
