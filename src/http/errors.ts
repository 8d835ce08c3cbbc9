/**
 * The error codes this service answers with, and their one status mapping: a closed set of its own, and
 * the not-found codes of Katapult's that the resources declare (`NotFoundCatalog`), always 404.
 * Every error body is `{"error":{"code","message","requestId"}}`.
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  /** No credentials, or credentials this service does not know. */
  unauthorized: 401,
  /** A valid key that may not read this organization. */
  forbidden: 403,
  route_not_found: 404,
  /** Katapult said "not found" in a code no resource declared. */
  not_found: 404,
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

/** One of Katapult's not-found codes, as a resource declares it (`package_not_found`): a 404. */
export type NotFoundCode = `${string}_not_found`;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_STATUS, code);
}

/** Katapult's form of a not-found code: a short lowercase name ending `_not_found` (never `route_not_found`, ours). */
export function isNotFoundCode(code: string): code is NotFoundCode {
  return /^[a-z][a-z_]{0,62}_not_found$/.test(code) && !isErrorCode(code);
}

export class AppError extends Error {
  override name = 'AppError';
  readonly status: (typeof ERROR_STATUS)[ErrorCode];
  constructor(
    readonly code: ErrorCode | NotFoundCode,
    message: string,
    /** Seconds until a retry can succeed, sent as `Retry-After`. */
    readonly retryAfterSeconds?: number,
    /** More headers the error response carries (e.g. `RateLimit`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = isErrorCode(code) ? ERROR_STATUS[code] : 404;
  }
}

export function errorBody(code: string, message: string, requestId: string): string {
  return JSON.stringify({ error: { code, message, requestId } });
}

/** What one of Katapult's not-found codes means, in this service's words and in Katapult's. */
export interface NotFoundText {
  /** This service's message (`{"error":{"code","message"}}`). */
  message: string;
  /** Katapult's own description, which the compatible surface answers with. */
  katapult: string;
}

/**
 * Every not-found code the resources declare, merged by the composition root. It refuses, at start-up, a
 * code that is not of Katapult's not-found form, one without both its texts, and one declared twice with
 * different texts: a code that reaches a consumer always has its 404 and its words in both dialects.
 */
export class NotFoundCatalog {
  readonly #texts = new Map<NotFoundCode, NotFoundText>();

  constructor(declarations: Array<Record<string, NotFoundText>>) {
    for (const declared of declarations) {
      for (const [code, text] of Object.entries(declared)) {
        if (!isNotFoundCode(code)) throw new Error(`not-found code "${code}": must be Katapult's <thing>_not_found`);
        if (!text.message || !text.katapult) throw new Error(`not-found code "${code}": needs this service's message and Katapult's description`);
        const held = this.#texts.get(code);
        if (held && (held.message !== text.message || held.katapult !== text.katapult)) throw new Error(`not-found code "${code}": declared twice, differently`);
        this.#texts.set(code, text);
      }
    }
  }

  /** The declared codes: the only not-found codes the upstream client passes on as they came. */
  get codes(): ReadonlySet<string> {
    return new Set(this.#texts.keys());
  }

  /** The declared code `code` is, or undefined. */
  declared(code: string): NotFoundCode | undefined {
    return isNotFoundCode(code) && this.#texts.has(code) ? code : undefined;
  }

  /** This service's 404 for a cached or upstream not-found `code`; one no resource declared is `not_found`. */
  error(code: string): AppError {
    const declared = this.declared(code);
    return declared ? new AppError(declared, this.#texts.get(declared)!.message) : new AppError('not_found', 'nothing matches this request');
  }

  /** Katapult's description of a declared `code`. */
  katapult(code: NotFoundCode): string {
    return this.#texts.get(code)?.katapult ?? 'No item was found matching any of the criteria provided in the arguments';
  }
}
