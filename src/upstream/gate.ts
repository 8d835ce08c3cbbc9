import type { CircuitBreaker } from './breaker.js';
import type { Cause } from '../domain/cause.js';
import type { Clock } from '../domain/clock.js';
import type { ConsumerShare } from './consumer-share.js';
import { isOwnRefusal, REFUSED_BY_BREAKER, REFUSED_QUEUE_FULL, REFUSED_QUEUE_TIMEOUT, UpstreamError } from './errors.js';
import type { BudgetGovernor } from './governor.js';
import type { RateLimit } from './rate-limit.js';

export interface GateOptions {
  /** Upstream requests in flight at once. */
  concurrency: number;
  /** Calls waiting for a slot at once; one more is refused at once (`queue_full`). */
  queueLength: number;
}

/**
 * Every upstream request passes here: the circuit breaker, then a slot among `concurrency` (waiting in a
 * queue of at most `queueLength`, never past the call's deadline), then the share of the consumer that
 * causes it (a background refresh is the service's own and charged to nobody), then the budget governor.
 * A call is charged only once it has a slot, so one that times out in the queue costs nobody anything.
 * A consumer-driven request that met a refused connection or a 503 is tried once more after a jittered
 * backoff (charged again: it is another call), only while the circuit is closed, the budget allows it and
 * its deadline leaves room; nothing is retried after a 429 (the governor refuses every call until the
 * next minute).
 */
export class UpstreamGate {
  #inFlight = 0;
  /** Who waits for a slot, first come first served; a waiter whose deadline passes leaves the queue. */
  readonly #queue = new Set<() => void>();

  constructor(
    readonly governor: BudgetGovernor,
    readonly breaker: CircuitBreaker,
    private readonly clock: Clock,
    private readonly share: ConsumerShare | null,
    private readonly opts: GateOptions,
    /** Told about each call refused by our own guards, by reason (`REFUSED_*`). */
    private readonly onRefused: (reason: string) => void = () => {},
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Runs `call` with the time left before `deadline` (epoch ms on the service clock): the queue for a
   * slot and the exchange both count against it.
   */
  async run<T extends { rateLimit: RateLimit }>(cause: Cause, deadline: number, call: (timeoutMs: number) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (!this.breaker.allow()) throw this.#refused('unavailable', 'circuit open: upstream keeps failing', REFUSED_BY_BREAKER);
      try {
        await this.#enter(deadline);
        // A slot handed over as the deadline passed: nothing is charged for a call with no time to make.
        if (this.clock.now() >= deadline) {
          this.#leave();
          throw this.#refused('timeout', 'no upstream slot before the deadline', REFUSED_QUEUE_TIMEOUT);
        }
      } catch (err) {
        this.breaker.cancel();
        throw err;
      }
      let backoffMs = 0;
      try {
        try {
          // The consumer's share and the budget, checked and counted together.
          await this.governor.take(cause.priority, cause.priority === 'consumer' ? this.share?.claim(cause.chargeTo) : undefined);
        } catch (err) {
          this.breaker.cancel();
          if (err instanceof UpstreamError && isOwnRefusal(err)) this.onRefused(err.upstreamCode!);
          throw err;
        }
        const result = await call(deadline - this.clock.now());
        this.governor.observe(result.rateLimit);
        this.breaker.success();
        return result;
      } catch (err) {
        if (!(err instanceof UpstreamError) || isOwnRefusal(err)) throw err;
        this.governor.observe(err.rateLimit);
        if (err.kind === 'rate_limited') await this.governor.block();
        // Only an absent or broken upstream counts against the circuit; a 404 or a 429 is an answer.
        if (err.kind === 'unavailable' || err.kind === 'timeout' || err.kind === 'bad_response') this.breaker.failure();
        else this.breaker.success();
        backoffMs = 100 * (0.5 + this.random());
        const retry =
          err.kind === 'unavailable' && cause.priority === 'consumer' && attempt === 0 && this.breaker.state === 'closed' && this.clock.now() + backoffMs < deadline;
        if (!retry) throw err;
      } finally {
        this.#leave();
      }
      await this.clock.sleep(backoffMs);
    }
  }

  /** Calls waiting for a slot now. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Takes a slot, waiting in the queue until `deadline` at most. */
  async #enter(deadline: number): Promise<void> {
    if (this.#inFlight < this.opts.concurrency) {
      this.#inFlight++;
      return;
    }
    if (this.#queue.size >= this.opts.queueLength) {
      throw this.#refused('unavailable', `${this.#queue.size} calls already wait for an upstream slot`, REFUSED_QUEUE_FULL);
    }
    const waitMs = deadline - this.clock.now();
    if (waitMs <= 0) throw this.#refused('timeout', 'no upstream slot before the deadline', REFUSED_QUEUE_TIMEOUT);
    await new Promise<void>((resolve, reject) => {
      const granted = () => {
        clearTimeout(timer);
        resolve();
      };
      // A real timer: the wait is real time, whatever clock the deadline is read on.
      const timer = setTimeout(() => {
        this.#queue.delete(granted);
        reject(this.#refused('timeout', 'no upstream slot before the deadline', REFUSED_QUEUE_TIMEOUT));
      }, Math.ceil(waitMs));
      this.#queue.add(granted);
    });
  }

  /** Hands the slot to the first waiter, or frees it. */
  #leave(): void {
    const next = this.#queue.values().next();
    if (next.done) {
      this.#inFlight--;
      return;
    }
    this.#queue.delete(next.value);
    next.value();
  }

  #refused(kind: 'unavailable' | 'timeout', message: string, reason: string): UpstreamError {
    this.onRefused(reason);
    return new UpstreamError(kind, message, null, reason);
  }
}
