import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Consumer } from '../config/api-keys.js';
import type { Logger } from '../observability/logger.js';
import { organizationsOf } from './claims.js';

/** Where a workload's tokens come from, and what they must say (`JWT_*`, config/config.ts). */
export interface WorkloadTokenConfig {
  issuer: string;
  audience: string;
  /** The issuer's key set; null: the `jwks_uri` of its discovery document. */
  jwksUrl: string | null;
  /** The claim listing the organizations the workload may read (ids or sub-domains). */
  orgsClaim: string;
  /** The signature algorithms accepted (never `none`, never HMAC: refused at start-up). */
  algorithms: string[];
}

/** How long after one failed attempt the discovery document is not asked for again. */
const DISCOVERY_COOLDOWN_MS = 30_000;
/** An unknown `kid` makes jose fetch the key set again at most this often, per instance. */
const JWKS_COOLDOWN_MS = 30_000;

/** Text of JWS compact form: three base64url parts. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Workload tokens: a JWT its identity provider signed (a Kubernetes service-account token, a mesh or
 * OAuth access token), presented where an API key would be. Checked with `jose`: the signature against
 * the issuer's published keys (cached; an unknown `kid` fetches them again at most once per cooldown, so
 * forged tokens cannot make the service hammer the provider; known keys keep working while the provider
 * is down), the algorithm, `iss`, `aud`, `exp` and `nbf` (30 s of clock tolerance). The workload is the
 * consumer `jwt:<sub>`, reading the organizations its claim lists.
 */
export class WorkloadTokens {
  #remote: ReturnType<typeof createRemoteJWKSet> | null = null;
  #discoveryFailedAt = -Infinity;

  constructor(
    private readonly config: WorkloadTokenConfig,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    /** How long fetched keys are used before they are fetched again (jose's `cacheMaxAge`). */
    private readonly keysMaxAgeMs = 600_000,
    /** After a fetch, how long an unknown `kid` fetches nothing more (jose's `cooldownDuration`). */
    private readonly cooldownMs = JWKS_COOLDOWN_MS,
  ) {}

  /** True for text that can only be meant as a JWT (an API key is never of that form). */
  static looksLikeToken(text: string): boolean {
    return COMPACT_JWS.test(text) && text.length <= 16_384;
  }

  /** The consumer a valid token names; null for any token that is not valid here, whatever the reason. */
  async verify(token: string): Promise<Consumer | null> {
    const keys = await this.#keys();
    if (!keys) return null;
    const options = { issuer: this.config.issuer, audience: this.config.audience, algorithms: this.config.algorithms, clockTolerance: 30 };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, options));
    } catch (err) {
      // The provider unreachable while a key must be fetched again: the keys already known still count.
      const known = !isVerdict(err) ? keys.jwks?.() : undefined;
      if (!known) return null;
      try {
        ({ payload } = await jwtVerify(token, createLocalJWKSet(known), options));
      } catch {
        return null;
      }
    }
    if (typeof payload.sub !== 'string' || !payload.sub || payload.sub.length > 256) return null;
    return { name: `jwt:${payload.sub}`, scopes: new Set(organizationsOf(payload[this.config.orgsClaim])) };
  }

  async #keys(): Promise<ReturnType<typeof createRemoteJWKSet> | null> {
    if (this.#remote) return this.#remote;
    let url = this.config.jwksUrl;
    if (!url) {
      if (this.now() - this.#discoveryFailedAt < DISCOVERY_COOLDOWN_MS) return null;
      url = await this.#discover();
      if (!url) {
        this.#discoveryFailedAt = this.now();
        return null;
      }
    }
    this.#remote = createRemoteJWKSet(new URL(url), { cooldownDuration: this.cooldownMs, cacheMaxAge: this.keysMaxAgeMs, timeoutDuration: 5000 });
    return this.#remote;
  }

  /** The issuer's `jwks_uri` from its discovery document (OpenID Connect Discovery 1.0 §4). */
  async #discover(): Promise<string | null> {
    try {
      const res = await fetch(`${this.config.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) });
      const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (!res.ok || doc.issuer !== this.config.issuer || typeof doc.jwks_uri !== 'string') throw new Error('unusable discovery document');
      return new URL(doc.jwks_uri).toString();
    } catch (err) {
      this.logger.warn({ issuer: this.config.issuer, err: (err as Error).message }, 'workload tokens: the issuer\'s discovery document could not be read');
      return null;
    }
  }
}

/** A failure that is jose's verdict on the token itself, not on reaching the provider. */
function isVerdict(err: unknown): boolean {
  return !(err instanceof errors.JWKSTimeout) && !(err instanceof TypeError && /fetch/i.test(String(err.message)));
}
