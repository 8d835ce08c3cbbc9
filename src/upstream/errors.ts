import type { FailurePolicy } from '../cache/engine.js';
import type { RateLimit } from './rate-limit.js';

/**
 * What went wrong talking to Katapult. `kind` is the closed set the cache and the HTTP edge act on;
 * `upstreamCode` is Katapult's own code from the wrapped envelope, when there was one.
 */
export type UpstreamErrorKind =
  /** A 404 `*_not_found`: Katapult has no such thing (`upstreamCode` says which); an answer, not a failure. */
  | 'not_found'
  /** 429 `rate_limit_reached`: the token's budget is spent until the next clock minute. */
  | 'rate_limited'
  /** 5xx, connection refused or reset. */
  | 'unavailable'
  | 'timeout'
  /** A body that is not the documented JSON, or a status we do not expect. */
  | 'bad_response'
  /** 400/403 about our request or token: a configuration problem, not the consumer's. */
  | 'rejected'
  /** Refused by us, not Katapult: the consumer has caused its share of this minute's calls. */
  | 'share_exhausted';

export class UpstreamError extends Error {
  override name = 'UpstreamError';
  constructor(
    readonly kind: UpstreamErrorKind,
    message: string,
    readonly status: number | null = null,
    readonly upstreamCode: string | null = null,
    readonly rateLimit: RateLimit | null = null,
  ) {
    super(message);
  }
}

export function isNotFound(err: unknown): err is UpstreamError & { kind: 'not_found'; upstreamCode: string } {
  return err instanceof UpstreamError && err.kind === 'not_found';
}

/**
 * `upstreamCode` of the errors our own guards raise without asking Katapult: the budget governor
 * (kind `rate_limited`), the circuit breaker (kind `unavailable`), a consumer's share (kind
 * `share_exhausted`), and the queue for an upstream slot, full (kind `unavailable`) or waited on until
 * the call's deadline (kind `timeout`). Each is also the `reason` label of `kbff_upstream_refusals_total`.
 */
export const REFUSED_BY_GOVERNOR = 'budget';
export const REFUSED_BY_BREAKER = 'circuit_open';
export const REFUSED_FOR_SHARE = 'consumer_share';
export const REFUSED_QUEUE_FULL = 'queue_full';
export const REFUSED_QUEUE_TIMEOUT = 'queue_timeout';

const OWN_REFUSALS = new Set([REFUSED_BY_GOVERNOR, REFUSED_BY_BREAKER, REFUSED_FOR_SHARE, REFUSED_QUEUE_FULL, REFUSED_QUEUE_TIMEOUT]);

export function isOwnRefusal(err: UpstreamError): boolean {
  return err.upstreamCode !== null && OWN_REFUSALS.has(err.upstreamCode);
}

/** How the cache engine tells Katapult's failures from our own refusals. */
export const upstreamFailures: FailurePolicy = {
  refusal: (err) => (err instanceof UpstreamError && isOwnRefusal(err) ? (err.kind === 'share_exhausted' ? 'caller' : 'everyone') : null),
  servable: (err) => err instanceof UpstreamError,
  markOf: (err) => (err as UpstreamError).kind,
  fromMark: (code, message) => new UpstreamError(code as UpstreamErrorKind, message),
  timeout: () => new UpstreamError('timeout', 'no refresh result in time'),
};
