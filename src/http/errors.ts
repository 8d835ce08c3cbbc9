/**
 * The closed set of error codes this service answers with, and their one status mapping.
 * Every error body is `{"error":{"code","message","requestId"}}`.
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  /** No credentials, or credentials this service does not know. */
  unauthorized: 401,
  /** A valid key that may not read this organization. */
  forbidden: 403,
  route_not_found: 404,
  package_not_found: 404,
  organization_not_found: 404,
  method_not_allowed: 405,
  /** This consumer's request limit; `Retry-After` says when a request will be accepted again. */
  rate_limited: 429,
  /**
   * This consumer's requests have caused its share of upstream calls this clock minute; what is cached is
   * still served. `Retry-After` says when the next minute starts.
   */
  upstream_share_exhausted: 429,
  /** Upstream answered something unusable: a malformed body, an unexpected status, a refused token. */
  upstream_error: 502,
  /** Upstream is down, refusing connections, or answering 503. */
  upstream_unavailable: 503,
  /** The token's per-minute budget is spent; `Retry-After` says when it returns. */
  upstream_rate_limited: 503,
  upstream_timeout: 504,
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Seconds until a retry can succeed, sent as `Retry-After`. */
    readonly retryAfterSeconds?: number,
    /** More headers the error response carries (e.g. `RateLimit`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}

export function errorBody(code: ErrorCode, message: string, requestId: string): string {
  return JSON.stringify({ error: { code, message, requestId } });
}
