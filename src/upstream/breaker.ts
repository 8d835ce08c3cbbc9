import type { Clock } from '../domain/clock.js';

export type CircuitState = 'closed' | 'open' | 'half-open';

/**
 * A circuit breaker around upstream calls: after `failures` consecutive failures it opens and refuses
 * calls for `cooldownMs`; then one probe goes through (half-open), and its outcome closes or re-opens it.
 */
export class CircuitBreaker {
  #failures = 0;
  #openedAt = 0;
  #state: CircuitState = 'closed';
  #probing = false;

  constructor(
    private readonly clock: Clock,
    private readonly failures: number,
    private readonly cooldownMs: number,
    private readonly onChange: (state: CircuitState) => void = () => {},
  ) {}

  /** True when a call may go now. In half-open state only one probe is let through at a time. */
  allow(): boolean {
    if (this.#state === 'open' && this.clock.now() - this.#openedAt >= this.cooldownMs) this.#set('half-open');
    if (this.#state === 'closed') return true;
    if (this.#state === 'half-open' && !this.#probing) return (this.#probing = true);
    return false;
  }

  /** The call allowed by `allow()` was not made after all. */
  cancel(): void {
    this.#probing = false;
  }

  success(): void {
    this.#failures = 0;
    this.#probing = false;
    if (this.#state !== 'closed') this.#set('closed');
  }

  failure(): void {
    this.#probing = false;
    this.#failures++;
    if (this.#state === 'half-open' || (this.#state === 'closed' && this.#failures >= this.failures)) {
      this.#openedAt = this.clock.now();
      this.#set('open');
    }
  }

  get state(): CircuitState {
    return this.#state;
  }

  #set(state: CircuitState): void {
    this.#state = state;
    this.onChange(state);
  }
}
