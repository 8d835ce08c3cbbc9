/**
 * The token's budget as Katapult reports it on every response, errors included
 * (`X-Ratelimit-Permitted` per clock minute, `X-Ratelimit-Remaining`). Null: header absent or not a number.
 */
export interface RateLimit {
  permitted: number | null;
  remaining: number | null;
}

export function readRateLimit(headers: Headers): RateLimit {
  return {
    permitted: toCount(headers.get('x-ratelimit-permitted')),
    remaining: toCount(headers.get('x-ratelimit-remaining')),
  };
}

function toCount(value: string | null): number | null {
  if (value === null || !/^\d{1,9}$/.test(value.trim())) return null;
  return Number(value);
}
