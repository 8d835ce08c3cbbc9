import { Hono } from 'hono';
import type { RedisGuard } from './redis/guard.js';
import { adminRoutes } from './admin/routes.js';
import type { ConsumerLimiter, MinuteWindow } from './auth/rate-limit.js';
import type { Compressor } from './http/compression.js';
import type { CorsPolicy } from './http/cors.js';
import { openApiRoutes } from './http/openapi.js';
import { katapultSurface } from './katapult-compat/surface.js';
import type { PurgeTarget, Resource } from './resource/resource.js';
import type { CacheEngine } from './cache/engine.js';
import { healthRoutes } from './http/health.js';
import { pickerRoutes } from './ui/picker.js';
import type { CircuitBreaker } from './upstream/breaker.js';
import type { BudgetGovernor } from './upstream/governor.js';
import type { TieredStore } from './cache/tiered-store.js';
import type { Clock } from './domain/clock.js';
import type { Config } from './config/config.js';
import type { AppContext, AppEnv } from './http/context.js';
import { AppError, errorBody, type NotFoundCatalog } from './http/errors.js';
import { printable } from './http/query.js';
import { requestContext, requestId } from './http/request-context.js';
import type { Logger } from './observability/logger.js';
import type { WorkloadTokens } from './auth/workload-tokens.js';
import type { SignIn } from './auth/sign-in.js';
import type { Metrics } from './observability/metrics.js';
import type { RequestLog } from './observability/request-log.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  clock: Clock;
  store: TieredStore;
  engine: CacheEngine;
  /** The cached Katapult resources: each brings its routes, compatible endpoints, OpenAPI paths and key space. */
  resources: Resource[];
  /** Every resource's not-found codes, in this service's words and Katapult's. */
  notFound: NotFoundCatalog;
  /** Workload tokens (JWTs) accepted beside API keys; null when not configured. */
  tokens: WorkloadTokens | null;
  /** Users' sign-in through the service; null when it is off. */
  signIn: SignIn | null;
  requestLog: RequestLog;
  /** The guarded Redis, null without one. */
  redis: RedisGuard | null;
  governor: BudgetGovernor;
  breaker: CircuitBreaker;
  limiter: ConsumerLimiter;
  /** Each consumer's requests to the compatible surface, per clock minute as Katapult counts them. */
  requestWindow: MinuteWindow;
  /** Upstream calls one consumer may cause per clock minute. */
  upstreamShare: () => number;
  metrics: Metrics;
  /** Null when no browser origin is allowed (`CORS_ORIGINS` unset): no CORS headers at all. */
  cors: CorsPolicy | null;
  /** Set once shutdown begins. */
  lifecycle: { draining: boolean };
  /** Answers in the coding each client accepts, compressed once per representation. */
  compressor: Compressor;
}

/** The composition root of the HTTP surface: every route and middleware, built from injected parts. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(requestContext(deps.requestLog, deps.config.consumerKeys));
  // An answer that leaves once shutdown has begun closes its connection (the hit path answers at once).
  app.use(async (c, next) => {
    await next();
    if (deps.lifecycle.draining) c.res.headers.set('connection', 'close');
  });
  if (deps.cors) app.use(deps.cors.middleware());
  app.route('/', healthRoutes(deps));
  if (deps.signIn) app.route('/', deps.signIn.routes());
  if (deps.config.demoUi || deps.config.demo) app.route('/', pickerRoutes());
  app.route('/', openApiRoutes(deps.resources.map((r) => r.document), deps.compressor));
  // Each router authenticates its own requests, in its own error format.
  for (const resource of deps.resources) app.route('/', resource.routes);
  app.route('/', katapultSurface({ ...deps, ...deps.config }, deps.resources.flatMap((r) => r.compat ?? [])));
  // Without ADMIN_TOKEN the admin endpoints do not exist (404), rather than exist and refuse.
  if (deps.config.adminToken) {
    const purgePatterns = async (target: PurgeTarget) => (await Promise.all(deps.resources.map((r) => r.purgePatterns(target)))).flat();
    const purgeItems = Object.assign({}, ...deps.resources.map((r) => r.purgeItems ?? {}));
    app.route('/', adminRoutes({ ...deps, adminToken: deps.config.adminToken, l1: deps.store.l1, purgeItems, purgePatterns }));
  }

  // Answered here rather than thrown: the request middleware must still see it and stamp the request id.
  app.notFound((c) => errorResponse(c, new AppError('route_not_found', `no route for ${c.req.method} ${printable(c.req.path)}`)));

  // The one error handler: every failure leaves as `{"error":{code,message,requestId}}`.
  app.onError((err, c) => {
    if (err instanceof AppError) return errorResponse(c, err);
    deps.logger.error({ err, reqId: c.get('requestId') }, 'unhandled error');
    return errorResponse(c, new AppError('internal_error', 'internal error'));
  });
  return app;
}

function errorResponse(c: AppContext, error: AppError): Response {
  const headers: Record<string, string> = { ...c.get('limitHeaders'), ...error.headers, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds);
  if (error.code === 'unauthorized') headers['www-authenticate'] ??= 'Bearer';
  const id = c.get('requestId') ?? requestId(null);
  headers['x-request-id'] = id;
  return c.body(errorBody(error.code, error.message, id), error.status, headers);
}
