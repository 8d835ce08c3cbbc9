import { z } from 'zod';

/**
 * Katapult's JSON as it arrives (see shared/katapult/FACTS.md). Parsing is tolerant: a field that is
 * missing or of the wrong type becomes null, unknown fields are dropped. Only what we cannot do without
 * (a package id, the list array, the error code) makes a body malformed.
 */
const field = <T extends z.ZodType>(type: T) =>
  type
    .nullish()
    .catch(null)
    .transform((v): z.output<T> | null => v ?? null);

const count = field(z.number().int().nonnegative());

export const wirePackage = z.object({
  id: z.string().min(1),
  name: field(z.string()),
  permalink: field(z.string()),
  cpu_cores: count,
  ipv4_addresses: count,
  memory_in_gb: count,
  storage_in_gb: count,
  monthly_bandwidth_allowance_in_gb: count,
  privacy: field(z.enum(['public', 'private'])),
  icon: field(z.object({ url: field(z.string()) })),
  use_dedicated_cpus: field(z.boolean()),
  group: field(z.object({ id: z.string(), name: field(z.string()) })),
});
export type WirePackage = z.output<typeof wirePackage>;

export const wireListPage = z.object({
  pagination: z
    .object({
      current_page: count,
      total_pages: count,
      total: count,
      per_page: count,
      large_set: field(z.boolean()),
    })
    .nullish()
    .catch(null),
  virtual_machine_packages: z.array(wirePackage),
});
export type WireListPage = z.output<typeof wireListPage>;

export const wireGet = z.object({ virtual_machine_package: wirePackage });

/** Every Katapult error body is wrapped: `{"error":{"code","description","detail"}}`. */
export const wireError = z.object({
  error: z.object({ code: z.string(), description: field(z.string()), detail: z.unknown().optional() }),
});
