import { REFUSED_BY_BREAKER, REFUSED_QUEUE_FULL, UpstreamError } from '../upstream/errors.js';
import { secondsToNextMinute } from '../domain/clock.js';
import { AppError, type NotFoundCatalog } from './errors.js';

/**
 * What a consumer is told when upstream failed and nothing servable was cached. Katapult's own codes and
 * messages stay inside: they can describe our token, which is none of the consumer's business.
 */
export function toAppError(err: unknown, nowMs: number, notFound: NotFoundCatalog): unknown {
  if (!(err instanceof UpstreamError)) return err;
  switch (err.kind) {
    case 'not_found':
      return notFound.error(err.upstreamCode ?? 'not_found');
    case 'timeout':
      return new AppError('upstream_timeout', 'Katapult did not answer in time');
    case 'unavailable':
      if (err.upstreamCode === REFUSED_BY_BREAKER) return new AppError('upstream_unavailable', 'Katapult keeps failing; calls are paused for a moment');
      if (err.upstreamCode === REFUSED_QUEUE_FULL) return new AppError('upstream_unavailable', 'too many requests are waiting for Katapult; try again shortly');
      return new AppError('upstream_unavailable', 'Katapult is unavailable');
    case 'rate_limited':
      // Katapult's window is the clock minute: the budget returns at the next :00 (FACTS.md, Rate limits).
      return new AppError('upstream_rate_limited', 'the Katapult rate limit is spent until the next minute', secondsToNextMinute(nowMs));
    case 'share_exhausted':
      return new AppError('upstream_share_exhausted', "this consumer has caused its share of upstream calls this minute; cached answers are still served", secondsToNextMinute(nowMs));
    case 'bad_response':
    case 'rejected':
      return new AppError('upstream_error', 'Katapult answered with an error');
    default: {
      // Every kind is answered above: a new kind fails to compile here until it is given its answer.
      const unanswered: never = err.kind;
      return unanswered;
    }
  }
}

