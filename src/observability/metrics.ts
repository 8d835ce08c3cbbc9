import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the metrics read of the parts they observe; the parts feed them, never the other way round. */
type CircuitState = 'closed' | 'half-open' | 'open';
interface SizedStore {
  readonly size: { entries: number; bytes: number };
}
interface ServedAnswer {
  status: 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED';
  tier: 'l1' | 'l2' | null;
  coalesced: boolean;
}
interface UpstreamEvent {
  endpoint: string;
  outcome: string;
  durationMs: number;
  rateLimit: { permitted: number | null; remaining: number | null } | null;
}

/** How each answer was found, as one bounded label. */
export type CacheResult = 'l1_hit' | 'l2_hit' | 'miss' | 'stale' | 'revalidated';

const CIRCUIT: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

/**
 * The service's Prometheus metrics, on a registry of its own (several instances can live in one test
 * process). Every label is from a closed set: route patterns, statuses, outcomes; never ids or raw URLs.
 */
export class Metrics {
  readonly registry = new Registry();
  /**
   * Per-request counts are kept as plain numbers and handed to prom-client when scraped: a labelled
   * `inc()` hashes its labels on every call, which the hit path would pay on every request.
   */
  readonly #requestCounts = new Map<string, { route: string; status: string; n: number }>();
  #l1Hits = 0;
  readonly requests = new Counter({
    name: 'kbff_http_requests_total',
    help: 'Requests answered, by route pattern and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
    collect: () => {
      for (const c of this.#requestCounts.values()) {
        if (c.n) this.requests.inc({ route: c.route, status: c.status }, c.n);
        c.n = 0;
      }
    },
  });
  readonly cache = new Counter({
    name: 'kbff_cache_results_total',
    help: 'Package cache answers: l1_hit, l2_hit, miss, stale, revalidated; coalesced counts answers that waited on another request\'s refresh',
    labelNames: ['result'] as const,
    registers: [this.registry],
    collect: () => {
      if (this.#l1Hits) this.cache.inc({ result: 'l1_hit' }, this.#l1Hits);
      this.#l1Hits = 0;
    },
  });
  readonly upstreamRequests = new Counter({
    name: 'kbff_upstream_requests_total',
    help: 'Requests sent to Katapult, by endpoint and outcome',
    labelNames: ['endpoint', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly upstreamSeconds = new Histogram({
    name: 'kbff_upstream_request_duration_seconds',
    help: 'Katapult response time',
    labelNames: ['endpoint'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly rateLimitRemaining = new Gauge({
    name: 'kbff_upstream_ratelimit_remaining',
    help: 'Last X-Ratelimit-Remaining seen from Katapult (this clock minute)',
    registers: [this.registry],
  });
  readonly rateLimitPermitted = new Gauge({
    name: 'kbff_upstream_ratelimit_permitted',
    help: 'Last X-Ratelimit-Permitted seen from Katapult (per clock minute)',
    registers: [this.registry],
  });
  readonly redisErrors = new Counter({
    name: 'kbff_redis_errors_total',
    help: 'Redis commands that failed or timed out (the request carried on without Redis)',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });
  readonly refusals = new Counter({
    name: 'kbff_upstream_refusals_total',
    help: 'Upstream calls not made because our own guards refused them, by reason: consumer_share, budget, circuit_open',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly shareRefusals = new Counter({
    name: 'kbff_consumer_share_refusals_total',
    help: "Upstream calls refused because the consumer had caused its share this minute, by consumer key name ('anonymous' for every keyless caller)",
    labelNames: ['consumer'] as const,
    registers: [this.registry],
  });
  readonly circuit = new Gauge({
    name: 'kbff_upstream_circuit_state',
    help: 'Upstream circuit breaker: 0 closed, 1 half-open, 2 open',
    registers: [this.registry],
  });

  constructor(l1: SizedStore, defaults = true) {
    new Gauge({
      name: 'kbff_l1_entries',
      help: 'Entries in the in-process cache',
      registers: [this.registry],
      collect() {
        this.set(l1.size.entries);
      },
    });
    new Gauge({
      name: 'kbff_l1_bytes',
      help: 'Estimated bytes held by the in-process cache',
      registers: [this.registry],
      collect() {
        this.set(l1.size.bytes);
      },
    });
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'kbff_' });
  }

  /** Reports the calls waiting for an upstream slot (`kbff_upstream_queued`), read from `read` when scraped. */
  watchUpstreamQueue(read: () => number): void {
    new Gauge({
      name: 'kbff_upstream_queued',
      help: 'Upstream calls waiting for a slot (UPSTREAM_CONCURRENCY) in this instance',
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** One answer of the hit path. */
  l1Hit(): void {
    this.#l1Hits++;
  }

  /** One answered request, by route pattern and status. */
  request(route: string, status: number): void {
    this.requestCount(route, status).n++;
  }

  /** The count of answers of `route` with `status`, for a caller that counts the same pair again and again. */
  requestCount(route: string, status: number): { n: number } {
    const key = `${status}${route}`;
    let count = this.#requestCounts.get(key);
    if (!count) this.#requestCounts.set(key, (count = { route, status: String(status), n: 0 }));
    return count;
  }

  served(s: ServedAnswer): void {
    const result: CacheResult =
      s.status === 'HIT' ? (s.tier === 'l2' ? 'l2_hit' : 'l1_hit') : s.status === 'STALE' ? 'stale' : s.status === 'REVALIDATED' ? 'revalidated' : 'miss';
    this.cache.inc({ result });
    if (s.coalesced) this.cache.inc({ result: 'coalesced' });
  }

  readonly upstream = (e: UpstreamEvent): void => {
    this.upstreamRequests.inc({ endpoint: e.endpoint, outcome: e.outcome });
    this.upstreamSeconds.observe({ endpoint: e.endpoint }, e.durationMs / 1000);
    if (e.rateLimit?.remaining != null) this.rateLimitRemaining.set(e.rateLimit.remaining);
    if (e.rateLimit?.permitted != null) this.rateLimitPermitted.set(e.rateLimit.permitted);
  };

  circuitChanged(state: CircuitState): void {
    this.circuit.set(CIRCUIT[state]);
  }
}
