import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Redis } from 'ioredis';
import { createApp, type AppDeps } from './app.js';
import { ConsumerLimiter, MinuteWindow } from './auth/rate-limit.js';
import { MemoryStore } from './cache/memory-store.js';
import { connectTimeoutMs, createRedis } from './redis/client.js';
import { RedisGuard } from './redis/guard.js';
import { RedisStore } from './cache/redis-store.js';
import { TieredStore } from './cache/tiered-store.js';
import { systemClock, type Clock } from './domain/clock.js';
import type { Config } from './config/config.js';
import { InvalidationListener } from './coordination/invalidation.js';
import { FleetMembers } from './coordination/fleet.js';
import { RefreshLock } from './cache/refresh-lock.js';
import { CorsPolicy } from './http/cors.js';
import { createLogger, type Logger } from './observability/logger.js';
import { LogSink } from './observability/log-sink.js';
import { Metrics } from './observability/metrics.js';
import { RequestLog } from './observability/request-log.js';
import { packagesResource } from './packages/index.js';
import { SCOPE_NOT_FOUND, type ResourceDefinition, type ResourceParts } from './resource/resource.js';
import { routeKit } from './resource/route-kit.js';
import { WorkloadTokens } from './auth/workload-tokens.js';
import { SignIn } from './auth/sign-in.js';
import { SessionStore } from './auth/sessions.js';
import { clientAddress } from './http/cause.js';
import { createHitPath } from './http/hit-path.js';
import { Compressor } from './http/compression.js';
import { NotFoundCatalog } from './http/errors.js';
import { CircuitBreaker } from './upstream/breaker.js';
import { ConsumerShare } from './upstream/consumer-share.js';
import { upstreamFailures } from './upstream/errors.js';
import { CacheEngine } from './cache/engine.js';
import { UpstreamGate } from './upstream/gate.js';
import { BudgetGovernor } from './upstream/governor.js';
import { KatapultClient } from './upstream/katapult-client.js';

export interface RuntimeParts {
  logger?: Logger;
  clock?: Clock;
  fetch?: typeof fetch;
  /** Process metrics (memory, event loop); off where many instances share one test process. */
  defaultMetrics?: boolean;
  /** The cached Katapult resources, instead of `RESOURCES` (a test adds one of its own). */
  resources?: ResourceDefinition[];
}

/** The cached Katapult resources: a new one is a folder of its own and one entry here. */
export const RESOURCES: ResourceDefinition[] = [packagesResource];

export interface Runtime {
  deps: AppDeps;
  app: ReturnType<typeof createApp>;
  redis: Redis | null;
  /** This instance in the fleet: it announces itself while it listens, and counts the others. */
  fleet: FleetMembers;
  /** What keeps its L1 in step with the fleet's changes and purges; null without Redis. */
  invalidations: InvalidationListener | null;
  /** Resolves once no refresh or background fetch is running, in the engine or in any resource. */
  settle(): Promise<void>;
  /** Starts listening; resolves to the base URL. */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Stops accepting, lets in-flight requests (and refreshes) finish for up to `graceMs`, then cuts what is
   * left and closes Redis. `/readyz` answers 503 from the first moment, so load balancers move away.
   */
  close(graceMs?: number): Promise<void>;
}

/** True once `redis` is ready, false if it is not within `ms`. */
function readyWithin(redis: Redis, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    redis.once('ready', onReady);
  });
}

/** Builds every part once from the config (and any part a test or the demo supplies) and wires them. */
export function createRuntime(config: Config, parts: RuntimeParts = {}): Runtime {
  const logger = parts.logger ?? createLogger(config.logLevel, new LogSink(1, config.logBufferBytes, config.logFlushMs), [config.katapultToken, config.adminToken]);
  const clock = parts.clock ?? systemClock;
  if (config.demo) logger.warn('demo mode: upstream is the built-in Katapult simulator, not api.katapult.io');

  const redis = config.redis ? createRedis(config.redis, config.redisTimeoutMs, logger) : null;
  if (!redis) logger.info('no Redis configured: in-process cache only, nothing shared between instances');

  const l1 = new MemoryStore(config.l1MaxBytes, clock);
  const metrics = new Metrics(l1, parts.defaultMetrics ?? true);
  redis?.on('error', () => metrics.redisErrors.inc({ op: 'connection' }));
  // Every Redis command of every part goes through this one guard: counted, bounded, skipped when failing.
  const guard = redis ? new RedisGuard(redis, clock, logger, (op) => metrics.redisErrors.inc({ op })) : null;
  const l2 = guard ? new RedisStore(guard, clock, logger) : null;
  const store = new TieredStore(l1, l2, clock);
  const invalidations = redis ? new InvalidationListener(redis, l1, logger) : null;

  // The instances sharing the token: what each may spend while Redis, which counts for all, is away.
  const fleet: FleetMembers = new FleetMembers(guard, logger, () => governor.sync());
  const fleetSize = () => fleet.size;
  const governor = new BudgetGovernor(guard, clock, logger, config.budgetReservePercent, undefined, fleetSize);
  const breaker = new CircuitBreaker(clock, config.breakerFailures, config.breakerCooldownMs, (state) => {
    metrics.circuitChanged(state);
    logger.warn({ circuit: state }, 'upstream circuit breaker changed state');
  });
  // Each consumer's share of the token's budget: configured, or a tenth of what Katapult says it permits.
  const share = new ConsumerShare(
    clock,
    logger,
    () => config.consumerUpstreamPerMinute ?? Math.max(1, Math.floor(governor.permitted / 10)),
    (consumer) => metrics.shareRefusals.inc({ consumer }),
    fleetSize,
  );
  const gate = new UpstreamGate(governor, breaker, clock, share, { concurrency: config.upstreamConcurrency, queueLength: config.upstreamQueueLength }, (reason) =>
    metrics.refusals.inc({ reason }),
  );
  metrics.watchUpstreamQueue(() => gate.queued);
  const definitions = parts.resources ?? RESOURCES;
  // Their not-found codes, which the client passes on and both error dialects answer (a bad one stops start-up).
  const notFound = new NotFoundCatalog([SCOPE_NOT_FOUND, ...definitions.map((d) => d.notFound)]);
  const client = new KatapultClient({
    baseUrl: config.katapultApiUrl,
    token: config.katapultToken,
    timeoutMs: config.katapultTimeoutMs,
    maxBodyBytes: config.katapultMaxBodyBytes,
    notFoundCodes: notFound.codes,
    fetch: parts.fetch,
    clock,
    observe: metrics.upstream,
    // After the first page (which gives the count), every other page at once, as far as the gate allows:
    // a long list costs two round trips, not one per page.
    pageConcurrency: config.upstreamConcurrency,
    gate,
  });
  // The refresh lock is a lease its holder renews while it works: a dead holder is taken over after one
  // lease. A waiter without a stale copy waits as long as a live holder may take (its whole walk is
  // bounded by KATAPULT_TIMEOUT_MS), and never past its own request's deadline; one holding a stale copy
  // answers with it after one lease.
  const leaseMs = 1500;
  const engine = new CacheEngine({
    store,
    clock,
    logger,
    lock: guard && l2 ? new RefreshLock(guard, l2, clock, { leaseMs, failureTtlMs: 2000 }, invalidations ?? undefined) : null,
    failures: upstreamFailures,
    freshMs: config.freshMs,
    staleMs: config.staleMs,
    negativeMs: config.negativeMs,
    swrMs: config.swrMs,
    refreshAheadMs: config.refreshAheadMs,
    waitMs: config.katapultTimeoutMs + leaseMs,
    staleWaitMs: leaseMs,
    onServed: (served) => metrics.served(served),
  });
  const limiter = new ConsumerLimiter(guard, clock, config.consumerRatePerSecond, config.consumerBurst);
  // The compatible surface counts as Katapult does: the same rate, per clock minute.
  const requestWindow = new MinuteWindow(guard, clock, Math.max(1, Math.round(config.consumerRatePerSecond * 60)));
  const lifecycle = { draining: false };
  const cors = config.corsOrigins.length ? new CorsPolicy(config.corsOrigins) : null;
  const requestLog = new RequestLog(logger, metrics);
  const tokens = config.workloadTokens ? new WorkloadTokens(config.workloadTokens, logger) : null;
  const signIn = config.signIn
    ? new SignIn(config.signIn, new SessionStore(guard, clock), logger, config.corsOrigins, async (c) => (await limiter.take(`sign-in:${clientAddress(c, config.trustProxyHops)}`)).allowed)
    : null;
  // Compressed answers are made once per representation and kept in L1, beside the entries.
  const compressor = new Compressor(engine, { minBytes: config.compressMinBytes, brotliQuality: config.brotliQuality });
  const kit = routeKit({ ...config, clock, limiter, notFound, tokens, signIn, compressor });
  const shared: ResourceParts = { engine, client, clock, config, kit };
  const resources = definitions.map((d) => d.create(shared));
  const deps: AppDeps = { config, logger, clock, store, engine, resources, notFound, tokens, signIn, redis: guard, governor, breaker, limiter, requestWindow, upstreamShare: share.limit, metrics, cors, lifecycle, requestLog, compressor };
  const app = createApp(deps);
  const fastPaths = resources.flatMap((r) => (r.fastKeys ? [createHitPath(engine, clock, requestLog, () => metrics.l1Hit(), { ...config, cors, cookies: signIn !== null, compressor }, r.fastKeys)] : []));

  /** Every refresh and background fetch running now, in the engine or in any resource, finished. */
  const settle = async () => {
    await Promise.all([engine.settle(), ...resources.map((r) => r.settle?.())]);
    await engine.settle(); // what the resources' work started last
  };

  let server: Server | null = null;
  return {
    deps,
    app,
    redis,
    fleet,
    invalidations,
    settle,
    async listen(port = config.port, host = config.host) {
      // Join the fleet before taking traffic: a request answered before Redis is connected would miss
      // the shared cache and the fleet's lock, and call upstream for what the fleet already holds. The
      // wait is one connection attempt at most; after it the instance serves without Redis until it connects.
      if (redis && redis.status !== 'ready') {
        const connected = await readyWithin(redis, connectTimeoutMs(config.redisTimeoutMs));
        if (!connected) logger.warn('redis: not connected at start-up, serving from L1 and upstream until it is');
      }
      await fleet.start();
      const full = getRequestListener(app.fetch);
      server = createServer((req, res) => {
        // While draining, each answer says `Connection: close`, so no client sends another request on a
        // connection that is about to go (it would be reset, not refused). The router's answers to
        // requests that came before are told so as they leave (app.ts).
        if (lifecycle.draining) res.setHeader('connection', 'close');
        for (const fast of fastPaths) if (fast(req, res)) return;
        void full(req, res);
      });
      // A client gets 10 s to send its headers and 30 s for its whole request, then the connection is
      // closed: slow or stalled senders hold a socket for that long at most (Node's defaults: 60 s, 300 s).
      server.headersTimeout = 10_000;
      server.requestTimeout = 30_000;
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, host, resolve);
      });
      const addr = server.address() as AddressInfo;
      return `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    },
    async close(graceMs = 0) {
      lifecycle.draining = true;
      if (server) {
        const closing = new Promise<void>((resolve) => server!.close(() => resolve()));
        server.closeIdleConnections();
        const cut = setTimeout(() => server!.closeAllConnections(), graceMs);
        await closing;
        clearTimeout(cut);
      }
      await Promise.race([settle(), sleep(graceMs)]);
      await fleet.stop();
      await invalidations?.close();
      if (redis) {
        await redis.quit().catch(() => undefined);
        redis.disconnect();
      }
      logger.flush();
    },
  };
}
