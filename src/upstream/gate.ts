import type { CircuitBreaker } from './breaker.js';
import type { Cause } from '../domain/cause.js';
import type { Clock } from '../domain/clock.js';
import type { ConsumerShare } from './consumer-share.js';
import { isOwnRefusal, REFUSED_BY_BREAKER, UpstreamError } from './errors.js';
import type { BudgetGovernor } from './governor.js';
import type { RateLimit } from './rate-limit.js';

/**
 * Every upstream request passes here: the circuit breaker, then the share of the consumer that causes
 * it (a background refresh is the service's own and charged to nobody), then the budget governor, then
 * a bound on requests in flight. A consumer-driven request that met a refused connection or a 503 is
 * tried once more after a jittered backoff (charged again: it is another call), only while the circuit
 * is closed and the budget allows it; nothing is retried after a 429 (the governor refuses every call
 * until the next minute).
 */
export class UpstreamGate {
  #inFlight = 0;
  readonly #queue: Array<() => void> = [];

  constructor(
    readonly governor: BudgetGovernor,
    readonly breaker: CircuitBreaker,
    private readonly clock: Clock,
    private readonly share: ConsumerShare | null,
    private readonly concurrency: number,
    /** Told about each call refused by our own guards, by reason (`REFUSED_*`). */
    private readonly onRefused: (reason: string) => void = () => {},
    private readonly random: () => number = Math.random,
  ) {}

  async run<T extends { rateLimit: RateLimit }>(cause: Cause, call: () => Promise<T>): Promise<T> {
    const priority = cause.priority;
    for (let attempt = 0; ; attempt++) {
      if (!this.breaker.allow()) {
        this.onRefused(REFUSED_BY_BREAKER);
        throw new UpstreamError('unavailable', 'circuit open: upstream keeps failing', null, REFUSED_BY_BREAKER);
      }
      try {
        if (cause.priority === 'consumer') await this.share?.take(cause.chargeTo);
        await this.governor.take(priority);
      } catch (err) {
        this.breaker.cancel();
        if (err instanceof UpstreamError && isOwnRefusal(err)) this.onRefused(err.upstreamCode!);
        throw err;
      }
      await this.#enter();
      try {
        const result = await call();
        this.governor.observe(result.rateLimit);
        this.breaker.success();
        return result;
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        this.governor.observe(err.rateLimit);
        if (err.kind === 'rate_limited') await this.governor.block();
        // Only an absent or broken upstream counts against the circuit; a 404 or a 429 is an answer.
        if (err.kind === 'unavailable' || err.kind === 'timeout' || err.kind === 'bad_response') this.breaker.failure();
        else this.breaker.success();
        const retry = err.kind === 'unavailable' && priority === 'consumer' && attempt === 0 && this.breaker.state === 'closed';
        if (!retry) throw err;
      } finally {
        this.#leave();
      }
      await this.clock.sleep(100 * (0.5 + this.random()));
    }
  }

  async #enter(): Promise<void> {
    if (this.#inFlight < this.concurrency) {
      this.#inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.#queue.push(resolve));
  }

  #leave(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#inFlight--;
  }
}
