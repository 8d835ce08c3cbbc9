import type { Hono } from 'hono';
import type { CacheEngine } from '../cache/engine.js';
import type { Config } from '../config/config.js';
import type { Clock } from '../domain/clock.js';
import type { z } from 'zod';
import type { OrgRef } from '../domain/scope.js';
import type { AppEnv } from '../http/context.js';
import type { FastKeyOf } from '../http/hit-path.js';
import type { NotFoundText } from '../http/errors.js';
import type { RouteKit } from './route-kit.js';
import type { OpenAPIRegistry } from '../http/openapi.js';
import type { CompatKit } from '../katapult-compat/surface.js';
import type { KatapultClient } from '../upstream/katapult-client.js';

/**
 * What `POST /admin/invalidate` names: everything, one organization, or one item of a kind a resource
 * declares (`{"package":"rock-3"}` is `{item: 'package', ref: 'rock-3'}`), its ref valid by that kind's parser.
 */
export type PurgeTarget = { all: true } | { organization: OrgRef } | { item: string; ref: string };

/** The shared parts a resource is built from; its own parts (service, routes, keys) it builds itself. */
export interface ResourceParts {
  /** The one way to the cache tiers. */
  engine: CacheEngine;
  client: KatapultClient;
  clock: Clock;
  config: Config;
  /** What its simplified routes are built from: auth, who pays, the cached answer, refusals. */
  kit: RouteKit;
}

/**
 * A cached Katapult resource before it is built: its not-found codes (the upstream client and both error
 * dialects must know them before anything is built), and how to build it from the shared parts. The
 * runtime lists the definitions; adding a resource is one entry there.
 */
export interface ResourceDefinition {
  /** Katapult's 404 codes for this resource's items, in this service's words and Katapult's. */
  notFound: Record<string, NotFoundText>;
  create(parts: ResourceParts): Resource;
}

/** Every resource is scoped by organization: an unknown one is Katapult's `organization_not_found`. */
export const SCOPE_NOT_FOUND: Record<string, NotFoundText> = {
  organization_not_found: {
    message: 'no organization matches this id or sub-domain',
    katapult: 'No organization was found matching any of the criteria provided in the arguments',
  },
};

/**
 * A cached Katapult resource, as the composition root sees it. Its folder holds the rest: its wire
 * schema and requests, its mapping, its key space, its loaders on the cache engine, its parameters and
 * routes, and its Katapult-compatible endpoints (see `packages/`).
 */
export interface Resource {
  /** Its simplified API; it authenticates its own requests. */
  routes: Hono<AppEnv>;
  /** Adds its endpoints to the Katapult-compatible `/core/v1` surface. */
  compat?: (routes: Hono<AppEnv>, kit: CompatKit) => void;
  /** Adds its paths to `/openapi.json`. */
  document(registry: OpenAPIRegistry): void;
  /**
   * The key patterns of its key space that a purge covers (none when the target is not its own); it may
   * read what the tiers hold to find them (a package named by permalink is kept under its id).
   */
  purgePatterns(target: PurgeTarget): Promise<string[]>;
  /** The kinds of item an admin purge may name for it (the body field), each with the one parser of its refs. */
  purgeItems?: Record<string, z.ZodType>;
  /** Resolves once its own background work (beyond the engine's refreshes) has finished. */
  settle?: () => Promise<void>;
  /** What the cache-hit path in front of the routers may answer for it (`http/hit-path.ts`). */
  fastKeys?: FastKeyOf;
}
