import type { MiddlewareHandler } from 'hono';
import type { AppContext, AppEnv } from '../http/context.js';
import { AppError } from '../http/errors.js';
import type { OrgScope } from '../domain/scope.js';
import { mayRead, type ConsumerKeys } from '../config/api-keys.js';

/** The key a request presents: `Authorization: Bearer <key>` or `X-Api-Key: <key>`. */
export function presentedKey(authorization: string | undefined, apiKey: string | undefined): string | null {
  if (apiKey) return apiKey;
  if (authorization?.startsWith('Bearer ')) return authorization.slice(7).trim() || null;
  return null;
}

/**
 * Identifies the consumer. A request without a key is anonymous; a key that is presented but unknown is
 * a 401, never quietly treated as anonymous.
 */
export function authenticate(keys: ConsumerKeys): MiddlewareHandler<AppEnv> {
  return async function authenticate(c, next) {
    const key = presentedKey(c.req.header('authorization'), c.req.header('x-api-key'));
    const consumer = key === null ? null : keys.identify(key);
    if (key !== null && !consumer) throw new AppError('unauthorized', 'unknown API key');
    c.set('consumer', consumer);
    await next();
  };
}

/**
 * May this request read `scope`? Public packages are open unless AUTH_REQUIRED; an organization's need a
 * key (401 without one) that lists the organization (403 otherwise).
 */
export function authorize(c: AppContext, scope: OrgScope, authRequired: boolean): void {
  const consumer = c.get('consumer');
  if (!consumer) {
    if (scope.kind === 'public' && !authRequired) return;
    throw new AppError('unauthorized', scope.kind === 'public' ? 'an API key is required' : "an API key is required for an organization's packages");
  }
  if (!mayRead(consumer, scope)) throw new AppError('forbidden', `this API key may not read organization '${scope.kind === 'public' ? '' : scope.value}'`);
}
