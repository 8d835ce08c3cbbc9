import type { Clock } from '../../src/domain/clock.js';
import { loadConfig } from '../../src/config/config.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import type { ResourceDefinition } from '../../src/resource/resource.js';
import { KatapultSimulator, type SimulatorOptions } from '../../src/simulator/simulator.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { API_KEYS } from './keys.js';

export interface StackOptions {
  instances?: number;
  redisUrl?: string | null;
  env?: Record<string, string>;
  sim?: SimulatorOptions;
  clock?: Clock;
  logger?: Logger;
  /** Process metrics for the first instance (off by default: many instances share a test process). */
  defaultMetrics?: boolean;
  /** The cached resources, when a test adds one of its own. */
  resources?: ResourceDefinition[];
  /** Each instance's port, where a test must know its URLs before they start (a sign-in redirect URL). */
  ports?: number[];
}

export interface Stack {
  sim: KatapultSimulator;
  upstreamUrl: string;
  runtimes: Runtime[];
  urls: string[];
  close(): Promise<void>;
}

/** A simulator on loopback and N service instances over real HTTP, optionally sharing one Redis. */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const sim = new KatapultSimulator({ now: opts.clock ? () => opts.clock!.now() : undefined, ...opts.sim });
  const upstreamUrl = await sim.listen();
  const runtimes: Runtime[] = [];
  const urls: string[] = [];
  for (let i = 0; i < (opts.instances ?? 1); i++) {
    const config = loadConfig({
      KATAPULT_API_URL: upstreamUrl,
      KATAPULT_API_TOKEN: sim.token,
      KATAPULT_TIMEOUT_MS: '2000',
      REDIS_URL: opts.redisUrl ?? undefined,
      LOG_LEVEL: 'silent',
      API_KEYS,
      CONSUMER_RATE_PER_SECOND: '100000',
      CONSUMER_BURST: '100000',
      // Tests of other behaviours count upstream calls exactly: the lists' background detail fetches are
      // switched on by the tests about them (test/list-details.test.ts).
      CACHE_LIST_DETAILS: 'false',
      // A package's own freshness is CACHE_DETAIL_FRESH_SECONDS; tests that set the lists' give packages the same.
      ...(opts.env?.CACHE_FRESH_SECONDS ? { CACHE_DETAIL_FRESH_SECONDS: opts.env.CACHE_FRESH_SECONDS } : {}),
      ...opts.env,
    });
    const runtime = createRuntime(config, {
      clock: opts.clock,
      logger: opts.logger ?? createLogger('silent'),
      defaultMetrics: i === 0 && (opts.defaultMetrics ?? false),
      resources: opts.resources,
    });
    runtimes.push(runtime);
    urls.push(await runtime.listen(opts.ports?.[i] ?? 0, '127.0.0.1'));
  }
  return {
    sim,
    upstreamUrl,
    runtimes,
    urls,
    async close() {
      await Promise.all(runtimes.map((r) => r.close()));
      await sim.close();
    },
  };
}

/** Resolves once every runtime has applied the next invalidation (a change or a purge) to its L1: ask before causing it. */
export function nextInvalidation(stack: Stack): Promise<unknown> {
  return Promise.all(stack.runtimes.map((r) => r.invalidations!.applied()));
}

/** Waits until every runtime's Redis connection is ready (or gives up after `ms`). */
export async function redisReady(stack: Stack, ms = 5000): Promise<void> {
  // Only 'ready' ends the wait: a reconnect attempt that fails on the way there emits 'error', which
  // `events.once` would take for the answer.
  const waiting = stack.runtimes.flatMap((r) => (r.redis && r.redis.status !== 'ready' ? [new Promise((resolve) => r.redis!.once('ready', resolve))] : []));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('redis not ready')), ms)));
  try {
    await Promise.race([Promise.all(waiting), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
