import { z } from 'zod';

/**
 * What every Katapult body shares (see shared/katapult/FACTS.md). Parsing is tolerant: a field that is
 * missing or of the wrong type becomes null, unknown fields are dropped. Only what we cannot do without
 * makes a body malformed. A resource's own bodies are in its folder (`packages/wire.ts`).
 */
export const field = <T extends z.ZodType>(type: T) =>
  type
    .nullish()
    .catch(null)
    .transform((v): z.output<T> | null => v ?? null);

export const count = field(z.number().int().nonnegative());

/** A string of at most `max` characters; a longer one is unusable, so null. */
export const text = (max: number) => field(z.string().max(max));

/** A list page's `pagination`; `total_pages` and `total` may be null (`large_set: true`). */
export const wirePagination = z
  .object({
    current_page: count,
    total_pages: count,
    total: count,
    per_page: count,
    large_set: field(z.boolean()),
  })
  .nullish()
  .catch(null)
  .transform((p) => p ?? null);
export type WirePagination = NonNullable<z.output<typeof wirePagination>>;

/** Every Katapult error body is wrapped: `{"error":{"code","description","detail"}}`. */
export const wireError = z.object({
  error: z.object({ code: z.string().max(128), description: text(1024), detail: z.unknown().optional() }),
});
