import { createHash } from 'node:crypto';

/** Katapult's ETag: weak, the first 32 hex digits of the SHA-256 of the exact body. */
export function katapultEtag(body: string): string {
  return `W/"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
}

/**
 * What Katapult says for each of its error codes that is not about one resource (its own wording, from
 * its schema and recordings); the resources declare their not-found codes (`NotFoundCatalog`).
 */
export const KATAPULT_ERRORS = {
  missing_api_token: [400, 'No API token was provided in the Authorization header'],
  invalid_argument: [400, 'The argument provided was invalid'],
  invalid_api_token: [403, 'The API token provided was not valid'],
  scope_not_granted: [403, 'The API token does not have the required scope for this request'],
  route_not_found: [404, 'No route matches the path and method provided'],
  rate_limit_reached: [429, 'You have reached the rate limit for this type of request'],
  service_unavailable: [503, 'The service is currently unavailable'],
} as const satisfies Record<string, readonly [number, string]>;
export type KatapultErrorCode = keyof typeof KATAPULT_ERRORS;

export function isKatapultErrorCode(code: string): code is KatapultErrorCode {
  return Object.hasOwn(KATAPULT_ERRORS, code);
}
