import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import * as oidc from 'openid-client';
import type { Secret } from '../config/secret.js';
import type { AppEnv } from '../http/context.js';
import { AppError } from '../http/errors.js';
import type { Logger } from '../observability/logger.js';
import { organizationsOf } from './claims.js';
import { newId, type LoginAttempt, type Session, type SessionStore } from './sessions.js';

/** Sign-in through this service (`OIDC_*`, config/config.ts). */
export interface SignInConfig {
  issuer: string;
  clientId: string;
  clientSecret: Secret;
  /** This service's public `/auth/callback`, as registered at the provider. */
  redirectUrl: string;
  scopes: string;
  orgsClaim: string;
  sessionTtlMs: number;
}

const SESSION_COOKIE = 'kbff_session';
const LOGIN_COOKIE = 'kbff_login';
/** How long a sign-in may take at the provider. */
const LOGIN_TTL_MS = 10 * 60_000;
/** A path on this site: one slash, then anything printable but a second slash or a backslash (no `//evil`). */
const RETURN_TO = /^\/(?![/\\])[\x21-\x7e]{0,511}$/;

/**
 * Users sign in through the service (the Backend-for-Frontend pattern of the IETF's best current practice
 * for browser-based apps): it is a confidential OpenID Connect client (`openid-client`), runs the
 * authorization code flow with PKCE, `state` and `nonce` itself, keeps every token server-side (it keeps
 * none past the sign-in: only the user's subject, name and organizations), and gives the browser only an
 * `HttpOnly` session cookie (`__Host-` and `Secure` whenever the redirect URL is https). A request that
 * the cookie authenticates must also prove it comes from this site (`X-CSRF: 1`, no cross-site fetch, an
 * allowed `Origin`): the cookie alone never authorizes a read.
 */
export class SignIn {
  #configuration: Promise<oidc.Configuration> | null = null;
  readonly #secure: boolean;
  /** On https, cookies are `__Host-` cookies (RFC 6265bis §4.1.3.2): Secure, Path=/, no Domain. */
  readonly #prefix: 'host' | undefined;
  readonly #siteOrigin: string;

  constructor(
    private readonly config: SignInConfig,
    private readonly store: SessionStore,
    private readonly logger: Logger,
    /** Origins whose pages may call with the cookie beside this site's own (`CORS_ORIGINS`). */
    private readonly allowedOrigins: string[],
    /**
     * True while this caller may begin another sign-in: each keeps state server-side for 10 minutes, so
     * a flood of them is held to a request bucket per client address.
     */
    private readonly mayBegin: (c: Context<AppEnv>) => Promise<boolean> = async () => true,
  ) {
    const redirect = new URL(config.redirectUrl);
    this.#secure = redirect.protocol === 'https:';
    this.#prefix = this.#secure ? 'host' : undefined;
    this.#siteOrigin = redirect.origin;
  }

  /**
   * The session a request's cookie names: undefined when it carries no session cookie, null when the
   * cookie names no live session (forged, altered, expired, logged out).
   */
  async sessionOf(c: Context<AppEnv>): Promise<Session | null | undefined> {
    const id = getCookie(c, SESSION_COOKIE, this.#prefix);
    if (id === undefined) return undefined;
    return /^[A-Za-z0-9_-]{43}$/.test(id) ? this.store.get<Session>('session', id) : null;
  }

  /** True when a cookie-authenticated request does not prove it comes from this site or an allowed origin. */
  forged(c: Context<AppEnv>): boolean {
    if (c.req.header('x-csrf') !== '1') return true;
    if (c.req.header('sec-fetch-site') === 'cross-site') return true;
    const origin = c.req.header('origin');
    return origin !== undefined && origin !== this.#siteOrigin && !this.allowedOrigins.includes(origin) && !this.allowedOrigins.includes('*');
  }

  routes(): Hono<AppEnv> {
    const routes = new Hono<AppEnv>();
    routes.get('/auth/login', async (c) => {
      const returnTo = c.req.query('returnTo') ?? '/';
      if (!RETURN_TO.test(returnTo)) return page(c, 400, 'returnTo must be a path on this site.');
      if (!(await this.mayBegin(c))) return page(c, 429, 'Too many sign-ins from here; wait a moment.');
      let configuration: oidc.Configuration;
      try {
        configuration = await this.#discover();
      } catch {
        return page(c, 503, 'The identity provider cannot be reached; try again shortly.');
      }
      const attempt: LoginAttempt = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier(), returnTo };
      const id = newId();
      await this.store.put('login', id, attempt, LOGIN_TTL_MS);
      this.#cookie(c, LOGIN_COOKIE, id, LOGIN_TTL_MS);
      const url = oidc.buildAuthorizationUrl(configuration, {
        redirect_uri: this.config.redirectUrl,
        scope: this.config.scopes,
        state: attempt.state,
        nonce: attempt.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(attempt.verifier),
        code_challenge_method: 'S256',
      });
      return c.redirect(url.toString(), 302);
    });

    routes.get('/auth/callback', async (c) => {
      const loginId = getCookie(c, LOGIN_COOKIE, this.#prefix);
      this.#clear(c, LOGIN_COOKIE);
      // One callback per sign-in: the attempt is taken as it is read, so a replayed callback finds nothing.
      const attempt = loginId ? await this.store.get<LoginAttempt>('login', loginId, true) : null;
      if (!attempt) return page(c, 400, 'This sign-in is not known here (expired, used, or begun elsewhere); sign in again.');
      let session: Session;
      try {
        const configuration = await this.#discover();
        // The provider's answer, on the URL it was sent to: the registered redirect URL, with the request's query.
        const current = new URL(this.config.redirectUrl);
        current.search = new URL(c.req.url).search;
        const tokens = await oidc.authorizationCodeGrant(configuration, current, {
          pkceCodeVerifier: attempt.verifier,
          expectedState: attempt.state,
          expectedNonce: attempt.nonce,
          idTokenExpected: true,
        });
        let claims: Record<string, unknown> & { sub: string } = tokens.claims()!;
        // A provider may keep its claims out of the ID token: then they are the userinfo's (OIDC Core §5.3).
        if (claims[this.config.orgsClaim] === undefined) claims = { ...(await oidc.fetchUserInfo(configuration, tokens.access_token, claims.sub)), sub: claims.sub };
        session = { sub: claims.sub, name: typeof claims.name === 'string' ? claims.name.slice(0, 256) : null, orgs: organizationsOf(claims[this.config.orgsClaim]) };
      } catch (err) {
        this.logger.warn({ err: (err as Error).name }, 'sign-in: the callback did not complete');
        return page(c, 400, 'The sign-in could not be completed; sign in again.');
      }
      // A new session every time: an id the browser held before sign-in is never adopted.
      const old = getCookie(c, SESSION_COOKIE, this.#prefix);
      if (old) await this.store.delete('session', old);
      const id = newId();
      await this.store.put('session', id, session, this.config.sessionTtlMs);
      this.#cookie(c, SESSION_COOKIE, id, this.config.sessionTtlMs);
      this.logger.info({ consumer: `user:${session.sub}` }, 'signed in');
      return c.redirect(attempt.returnTo, 302);
    });

    routes.get('/auth/session', async (c) => {
      const session = await this.sessionOf(c);
      c.header('cache-control', 'no-store');
      if (!session) throw new AppError('unauthorized', 'not signed in');
      return c.json({ subject: session.sub, name: session.name, organizations: session.orgs });
    });

    routes.post('/auth/logout', async (c) => {
      if (this.forged(c)) throw new AppError('forbidden', 'a sign-out needs X-CSRF: 1 from this site');
      const id = getCookie(c, SESSION_COOKIE, this.#prefix);
      if (id) await this.store.delete('session', id);
      this.#clear(c, SESSION_COOKIE);
      return c.body(null, 204);
    });
    return routes;
  }

  #cookie(c: Context<AppEnv>, name: string, value: string, ttlMs: number): void {
    setCookie(c, name, value, { httpOnly: true, sameSite: 'Lax', path: '/', secure: this.#secure, maxAge: Math.floor(ttlMs / 1000), prefix: this.#prefix });
  }

  #clear(c: Context<AppEnv>, name: string): void {
    deleteCookie(c, name, { path: '/', secure: this.#secure, prefix: this.#prefix });
  }

  /** The provider's configuration by discovery, once; a failed attempt is forgotten, so the next sign-in tries again. */
  #discover(): Promise<oidc.Configuration> {
    const { issuer, clientId, clientSecret } = this.config;
    const loopback = new URL(issuer).protocol === 'http:';
    this.#configuration ??= oidc
      .discovery(new URL(issuer), clientId, clientSecret.reveal(), undefined, loopback ? { execute: [oidc.allowInsecureRequests], timeout: 5 } : { timeout: 5 })
      .catch((err: unknown) => {
        this.#configuration = null;
        throw err;
      });
    return this.#configuration;
  }
}

/** A small page for the browser: the sign-in's own answers are pages, not API errors. */
function page(c: Context<AppEnv>, status: 400 | 429 | 503, message: string): Response {
  c.header('cache-control', 'no-store');
  return c.html(`<!doctype html><meta charset="utf-8"><title>Sign-in</title><p>${message}</p><p><a href="/auth/login">Sign in</a></p>`, status);
}
