import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import type { RedisGuard } from '../redis/guard.js';
import { z } from 'zod';
import type { MemoryStore } from '../cache/memory-store.js';
import type { Secret } from '../config/secret.js';
import type { AppEnv } from '../http/context.js';
import { AppError } from '../http/errors.js';
import type { Logger } from '../observability/logger.js';
import { organizationParam, packageRefParam } from '../domain/scope.js';
import type { PurgeTarget } from '../resource/resource.js';
import { purge } from './invalidate.js';
import { bearerToken } from '../auth/middleware.js';

const target = z.union([
  z.strictObject({ all: z.literal(true) }),
  z.strictObject({ organization: organizationParam }),
  z.strictObject({ package: packageRefParam }),
]);

/**
 * `POST /admin/invalidate` with `Authorization: Bearer <ADMIN_TOKEN>` and a body naming what to purge:
 * `{"all":true}`, `{"organization":"acme"}` or `{"package":"rock-3"}`. Mounted only when ADMIN_TOKEN is set.
 */
export function adminRoutes(deps: {
  adminToken: Secret;
  l1: MemoryStore;
  redis: RedisGuard | null;
  logger: Logger;
  /** Every resource's key patterns for a target. */
  purgePatterns: (target: PurgeTarget) => Promise<string[]>;
}): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const expected = digest(deps.adminToken.reveal());

  routes.post('/admin/invalidate', async (c) => {
    const given = bearerToken(c.req.header('authorization'));
    // Compare digests, so the comparison takes the same time whatever the length of the guess.
    if (!given || !timingSafeEqual(digest(given), expected)) throw new AppError('unauthorized', 'a valid admin token is required');

    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new AppError('invalid_request', 'body must be JSON: {"all":true}, {"organization":"…"} or {"package":"…"}');
    }
    const parsed = target.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.length ? `body field '${issue.path.join('.')}'` : 'body';
      throw new AppError('invalid_request', `${where}: name exactly one of all (true), organization or package`);
    }
    const patterns = await deps.purgePatterns(parsed.data as PurgeTarget);
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
