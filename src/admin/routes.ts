import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import type { RedisGuard } from '../redis/guard.js';
import { z } from 'zod';
import type { MemoryStore } from '../cache/memory-store.js';
import type { Secret } from '../config/secret.js';
import type { AppEnv } from '../http/context.js';
import { AppError } from '../http/errors.js';
import { printable } from '../http/query.js';
import type { Logger } from '../observability/logger.js';
import { organizationParam } from '../domain/scope.js';
import type { PurgeTarget } from '../resource/resource.js';
import { purge } from './invalidate.js';
import { bearerToken } from '../auth/middleware.js';


/**
 * `POST /admin/invalidate` with `Authorization: Bearer <ADMIN_TOKEN>` and a body naming what to purge:
 * `{"all":true}`, `{"organization":"acme"}`, or one item by a kind a resource declares with the parser of
 * its refs (`{"package":"rock-3"}`). Mounted only when ADMIN_TOKEN is set.
 */
export function adminRoutes(deps: {
  adminToken: Secret;
  l1: MemoryStore;
  redis: RedisGuard | null;
  logger: Logger;
  /** The items a purge may name, by kind (the body field), each with the one parser of its refs. */
  purgeItems: Record<string, z.ZodType>;
  /** Every resource's key patterns for a target. */
  purgePatterns: (target: PurgeTarget) => Promise<string[]>;
}): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const kinds = Object.keys(deps.purgeItems);
  const named = `all (true), organization${kinds.map((k) => ` or ${k}`).join('')}`;
  /** The one thing a body names, parsed by its own parser; a 400 naming the field otherwise. */
  const targetOf = (body: unknown): PurgeTarget => {
    const fields = body !== null && typeof body === 'object' && !Array.isArray(body) ? Object.entries(body) : [];
    const refused = (where: string) => new AppError('invalid_request', `${where}: name exactly one of ${named}`);
    if (fields.length !== 1) throw refused('body');
    const [field, value] = fields[0]!;
    if (field === 'all' && value === true) return { all: true };
    if (field === 'organization') {
      const organization = organizationParam.safeParse(value);
      if (organization.success) return { organization: organization.data };
    } else if (Object.hasOwn(deps.purgeItems, field) && typeof value === 'string' && deps.purgeItems[field]!.safeParse(value).success) {
      return { item: field, ref: value };
    }
    throw refused(`body field '${printable(field)}'`);
  };
  const expected = digest(deps.adminToken.reveal());

  routes.post('/admin/invalidate', async (c) => {
    const given = bearerToken(c.req.header('authorization'));
    // Compare digests, so the comparison takes the same time whatever the length of the guess.
    if (!given || !timingSafeEqual(digest(given), expected)) throw new AppError('unauthorized', 'a valid admin token is required');

    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new AppError('invalid_request', `body must be JSON naming one of ${named}, e.g. {"all":true}`);
    }
    const patterns = await deps.purgePatterns(targetOf(body));
    const sharedEntries = await purge(patterns, deps.l1, deps.redis);
    deps.logger.info({ reqId: c.get('requestId'), patterns, sharedEntries }, 'admin purge');
    return c.json({ purged: { patterns, sharedEntries } });
  });
  routes.all('/admin/invalidate', (c) => {
    c.header('allow', 'POST');
    throw new AppError('method_not_allowed', `${c.req.method} is not allowed here; use POST`);
  });
  return routes;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
