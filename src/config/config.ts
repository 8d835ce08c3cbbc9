import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConsumerKeys } from './api-keys.js';
import { Secret } from './secret.js';

/**
 * The one place that reads the environment. Every setting is validated at start-up; a bad or
 * missing value throws a ConfigError naming the variable, and the process stops with it.
 */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(min).max(max);

const redisUrl = z
  .string()
  .regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL');

const schema = z.object({
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  KATAPULT_API_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    // Katapult takes its token as a Bearer header; a URL with user:password@ would put a credential
    // where logs and error messages print it.
    .refine((u) => !/^https?:\/\/[^/]*@/.test(u), 'must not carry credentials (user:password@); the token goes in KATAPULT_API_TOKEN')
    .default('https://api.katapult.io/core/v1'),
  KATAPULT_API_TOKEN: z.string().min(1).optional(),
  KATAPULT_API_TOKEN_FILE: z.string().min(1).optional(),
  KATAPULT_TIMEOUT_MS: int(1, 120_000).default(10_000),
  KATAPULT_MAX_BODY_BYTES: int(64 * 1024, 256 * 1024 * 1024).default(2 * 1024 * 1024),
  REDIS_URL: redisUrl.optional(),
  REDIS_SENTINELS: z.string().optional(),
  REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
  REDIS_CLUSTER_NODES: z.string().optional(),
  REDIS_PASSWORD: z.string().optional(),
  REDIS_TIMEOUT_MS: int(1, 10_000).default(200),
  CACHE_FRESH_SECONDS: int(0).default(300),
  CACHE_STALE_SECONDS: int(0).default(86_400),
  CACHE_NEGATIVE_SECONDS: int(0).default(30),
  CACHE_SWR_SECONDS: int(0).default(60),
  CACHE_REFRESH_AHEAD_SECONDS: int(0).optional(),
  CACHE_DETAIL_FRESH_SECONDS: int(0).default(3600),
  CACHE_LIST_DETAILS: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
  CACHE_L1_MAX_BYTES: int(1024).default(64 * 1024 * 1024),
  COMPRESS_MIN_BYTES: int(0, 1024 * 1024 * 1024).default(1024),
  COMPRESS_BROTLI_QUALITY: int(0, 11).default(5),
  BUDGET_RESERVE_PERCENT: int(0, 100).default(20),
  UPSTREAM_CONCURRENCY: int(1, 256).default(16),
  UPSTREAM_QUEUE_LENGTH: int(0, 100_000).default(256),
  BREAKER_FAILURES: int(1, 1000).default(5),
  BREAKER_COOLDOWN_SECONDS: int(1, 3600).default(10),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  API_KEYS: z.string().optional(),
  API_KEYS_FILE: z.string().min(1).optional(),
  AUTH_REQUIRED: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  CONSUMER_RATE_PER_SECOND: z.coerce.number({ error: 'must be a number' }).positive('must be above 0').default(20),
  CONSUMER_BURST: int(1, 100_000).default(60),
  CONSUMER_UPSTREAM_PER_MINUTE: int(1, 1_000_000).optional(),
  TRUST_PROXY_HOPS: int(0, 10).default(0),
  CORS_ORIGINS: z.string().optional(),
  OIDC_ISSUER: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).refine(httpsOrLoopback, 'must be https (http only on a loopback address)').optional(),
  OIDC_CLIENT_ID: z.string().min(1).max(256).optional(),
  OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  OIDC_CLIENT_SECRET_FILE: z.string().min(1).optional(),
  OIDC_REDIRECT_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).refine(httpsOrLoopback, 'must be https (http only on a loopback address)').optional(),
  OIDC_SCOPES: z.string().min(1).default('openid profile'),
  OIDC_ORGS_CLAIM: z.string().min(1).max(128).default('katapult_orgs'),
  SESSION_TTL_SECONDS: int(60, 30 * 86_400).default(28_800),
  DEMO_UI: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  JWT_ISSUER: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).refine(httpsOrLoopback, 'must be https (http only on a loopback address)').optional(),
  JWT_AUDIENCE: z.string().min(1).max(256).optional(),
  JWT_JWKS_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).refine(httpsOrLoopback, 'must be https (http only on a loopback address)').optional(),
  JWT_ORGS_CLAIM: z.string().min(1).max(128).default('katapult_orgs'),
  JWT_ALGORITHMS: z.string().default('RS256,ES256,EdDSA'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  LOG_BUFFER_BYTES: int(0, 16 * 1024 * 1024).default(64 * 1024),
  LOG_FLUSH_MS: int(1, 60_000).default(1000),
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(10_000),
});

/**
 * The environment, validated, turned into the typed config: the schema above is the only description of
 * a setting, and `Config` is what this gives. Reading a mounted file (the token, the keys) happens here too.
 */
const configFrom = (readFile: (path: string) => string) =>
  schema.transform((e) => ({
    port: e.PORT,
    host: e.HOST,
    /** Base URL of Katapult core/v1, without a trailing slash. */
    katapultApiUrl: e.KATAPULT_API_URL.replace(/\/+$/, ''),
    /** Null only in demo mode and tests that never call upstream. */
    katapultToken: readToken(e.KATAPULT_API_TOKEN, e.KATAPULT_API_TOKEN_FILE, readFile),
    /** Bound on a request's whole wait on upstream: the queue for a slot and the exchanges, bodies included. */
    katapultTimeoutMs: e.KATAPULT_TIMEOUT_MS,
    /** An upstream body past this many bytes is abandoned as it streams in. */
    katapultMaxBodyBytes: e.KATAPULT_MAX_BODY_BYTES,
    /** How to reach Redis: one URL, Sentinels that name the master, or Cluster seed nodes; null for none. */
    redis: redisTopology(e),
    redisTimeoutMs: e.REDIS_TIMEOUT_MS,
    /** How long an entry is served without asking upstream. */
    freshMs: e.CACHE_FRESH_SECONDS * 1000,
    /** How long after `freshMs` an entry may still be served stale. */
    staleMs: e.CACHE_STALE_SECONDS * 1000,
    /** How long a not-found is remembered. */
    negativeMs: e.CACHE_NEGATIVE_SECONDS * 1000,
    /** After `freshMs`, how long an entry is served at once while one background refresh runs. */
    swrMs: e.CACHE_SWR_SECONDS * 1000,
    /** Whether list answers are completed with each package's detail, fetched by the service itself. */
    listDetails: e.CACHE_LIST_DETAILS === 'true',
    /** How long a package's detail (the get) stays fresh: details change more rarely than list membership. */
    detailFreshMs: e.CACHE_DETAIL_FRESH_SECONDS * 1000,
    /** How long before `freshMs` runs out a requested entry is refreshed in the background. */
    refreshAheadMs: refreshAheadSeconds(e.CACHE_FRESH_SECONDS, e.CACHE_REFRESH_AHEAD_SECONDS) * 1000,
    /** Share of the per-minute budget that background refreshes leave to consumer-driven misses. */
    budgetReservePercent: e.BUDGET_RESERVE_PERCENT,
    /** Upstream requests in flight at once, per instance. */
    upstreamConcurrency: e.UPSTREAM_CONCURRENCY,
    /** Upstream requests waiting for one of those slots at once, per instance; one more is refused (503). */
    upstreamQueueLength: e.UPSTREAM_QUEUE_LENGTH,
    /** Consecutive upstream failures that open the circuit, and how long it stays open. */
    breakerFailures: e.BREAKER_FAILURES,
    breakerCooldownMs: e.BREAKER_COOLDOWN_SECONDS * 1000,
    /** Null: no admin endpoints. */
    adminToken: e.ADMIN_TOKEN ? new Secret(e.ADMIN_TOKEN) : null,
    /** Consumer API keys (`API_KEYS` or `API_KEYS_FILE`). */
    consumerKeys: readKeys(e.API_KEYS, e.API_KEYS_FILE, readFile),
    /** Whether reading public packages needs a key too. */
    authRequired: e.AUTH_REQUIRED === 'true',
    /** Each consumer's token bucket (per API key): refill per second and size. */
    consumerRatePerSecond: e.CONSUMER_RATE_PER_SECOND,
    consumerBurst: e.CONSUMER_BURST,
    /** Upstream calls one consumer's requests may cause per clock minute, fleet-wide; null: 10% of the token's budget. */
    consumerUpstreamPerMinute: e.CONSUMER_UPSTREAM_PER_MINUTE ?? null,
    /** Proxies in front whose `X-Forwarded-For` entry is believed (0: the socket's peer is the client). */
    trustProxyHops: e.TRUST_PROXY_HOPS,
    /** Origins allowed to call from a browser; `*` for any. Empty: no CORS headers. */
    corsOrigins: parseOrigins(e.CORS_ORIGINS),
    /** JWT bearer tokens that workloads present instead of an API key; null: not accepted. */
    workloadTokens: workloadTokens(e),
    /** Users' sign-in through this service (OpenID Connect, the BFF pattern); null: off. */
    signIn: signIn(e, readFile),
    /** Whether `/` serves the package picker (always in the demo). */
    demoUi: e.DEMO_UI === 'true',
    l1MaxBytes: e.CACHE_L1_MAX_BYTES,
    /** Answers of at least this many bytes go out in `br` or `gzip` when the client accepts one; the bytes are made once and kept in L1. */
    compressMinBytes: e.COMPRESS_MIN_BYTES,
    /** Brotli's quality for those answers (0–11). */
    brotliQuality: e.COMPRESS_BROTLI_QUALITY,
    logLevel: e.LOG_LEVEL,
    /** Log lines are written in batches of this many bytes (0: each at once), and at least every `logFlushMs`. */
    logBufferBytes: e.LOG_BUFFER_BYTES,
    logFlushMs: e.LOG_FLUSH_MS,
    /** On SIGTERM, how long in-flight requests may take before connections are cut. */
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  }));

/** The service's settings; `demo` is set by `npm run demo`, never by the environment. */
export type Config = z.output<ReturnType<typeof configFrom>> & { demo: boolean };

export type LogLevel = (typeof LOG_LEVELS)[number];

export type RedisTopology =
  | { kind: 'single'; url: string }
  | { kind: 'sentinel'; sentinels: HostPort[]; name: string; password: Secret | null }
  | { kind: 'cluster'; nodes: HostPort[]; password: Secret | null };
export interface HostPort {
  host: string;
  port: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface LoadOptions {
  /** `npm start` needs a token; demo mode and tests do not. */
  requireToken?: boolean;
  demo?: boolean;
  readFile?: (path: string) => string;
  /** Values used where the environment sets none (the demo's loopback host). */
  defaults?: Record<string, string>;
  /** Values that win over the environment (the demo's simulator URL). */
  overrides?: Record<string, string | undefined>;
}

export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  { requireToken = true, demo = false, readFile = (p) => readFileSync(p, 'utf8'), defaults = {}, overrides = {} }: LoadOptions = {},
): Config {
  // An empty variable means "unset": that is how compose files and shells usually say it.
  const present = Object.fromEntries(
    Object.entries({ ...defaults, ...env, ...overrides }).filter(([, v]) => v !== undefined && v !== ''),
  );
  const parsed = configFrom(readFile).safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${String(issue.path[0])}: ${issue.message}`);
  }
  if (!parsed.data.katapultToken && requireToken) {
    throw new ConfigError('KATAPULT_API_TOKEN: required (or KATAPULT_API_TOKEN_FILE naming a file that holds it)');
  }
  return { ...parsed.data, demo };
}

/**
 * A refresh-ahead window longer than half the freshness would make every answer start a refresh (each
 * new entry is born inside it) and cost a call per hit instead of one per freshness window: refused.
 * Unset, it is a tenth of the freshness (30 s of the default 300 s).
 */
function refreshAheadSeconds(freshSeconds: number, configured: number | undefined): number {
  if (configured === undefined) return Math.floor(freshSeconds / 10);
  if (configured > freshSeconds / 2) {
    throw new ConfigError(
      `CACHE_REFRESH_AHEAD_SECONDS: ${configured} is more than half of CACHE_FRESH_SECONDS (${freshSeconds}); every answer would start a refresh. Use at most ${Math.floor(freshSeconds / 2)}, or leave it unset for a tenth of the freshness`,
    );
  }
  return configured;
}

function readToken(
  inline: string | undefined,
  file: string | undefined,
  readFile: (path: string) => string,
): Secret | null {
  if (inline && file) throw new ConfigError('KATAPULT_API_TOKEN_FILE: set either it or KATAPULT_API_TOKEN, not both');
  if (inline) return new Secret(inline.trim());
  if (!file) return null;
  let text: string;
  try {
    text = readFile(file);
  } catch (err) {
    throw new ConfigError(`KATAPULT_API_TOKEN_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const token = text.trim();
  if (!token) throw new ConfigError(`KATAPULT_API_TOKEN_FILE: ${file} is empty`);
  return new Secret(token);
}

function readKeys(inline: string | undefined, file: string | undefined, readFile: (path: string) => string): ConsumerKeys {
  if (inline && file) throw new ConfigError('API_KEYS_FILE: set either it or API_KEYS, not both');
  const variable = file ? 'API_KEYS_FILE' : 'API_KEYS';
  let spec = inline;
  if (file) {
    try {
      spec = readFile(file);
    } catch (err) {
      throw new ConfigError(`API_KEYS_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if (!spec) return ConsumerKeys.none;
  try {
    return ConsumerKeys.parse(spec);
  } catch (err) {
    throw new ConfigError(`${variable}: ${(err as Error).message}`);
  }
}

/** An https URL, or an http one on a loopback address (the demo's and the tests' identity provider). */
function httpsOrLoopback(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
}

/** Signature algorithms only: `none` and HMAC (a shared secret, or a public key misused as one) are refused. */
const SIGNATURE_ALGORITHMS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

function signIn(e: z.output<typeof schema>, readFile: (path: string) => string) {
  if (!e.OIDC_ISSUER) return null;
  for (const [name, value] of [['OIDC_CLIENT_ID', e.OIDC_CLIENT_ID], ['OIDC_REDIRECT_URL', e.OIDC_REDIRECT_URL]] as const) {
    if (!value) throw new ConfigError(`${name}: required with OIDC_ISSUER`);
  }
  if (e.OIDC_CLIENT_SECRET && e.OIDC_CLIENT_SECRET_FILE) throw new ConfigError('OIDC_CLIENT_SECRET_FILE: set either it or OIDC_CLIENT_SECRET, not both');
  let secret = e.OIDC_CLIENT_SECRET;
  if (e.OIDC_CLIENT_SECRET_FILE) {
    try {
      secret = readFile(e.OIDC_CLIENT_SECRET_FILE).trim();
    } catch (err) {
      throw new ConfigError(`OIDC_CLIENT_SECRET_FILE: cannot read ${e.OIDC_CLIENT_SECRET_FILE} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if (!secret) throw new ConfigError('OIDC_CLIENT_SECRET: required with OIDC_ISSUER (or OIDC_CLIENT_SECRET_FILE)');
  const redirectUrl = new URL(e.OIDC_REDIRECT_URL!);
  if (redirectUrl.pathname !== '/auth/callback') throw new ConfigError('OIDC_REDIRECT_URL: must be this service\'s /auth/callback');
  return {
    issuer: e.OIDC_ISSUER,
    clientId: e.OIDC_CLIENT_ID!,
    clientSecret: new Secret(secret),
    redirectUrl: redirectUrl.toString(),
    scopes: e.OIDC_SCOPES,
    orgsClaim: e.OIDC_ORGS_CLAIM,
    sessionTtlMs: e.SESSION_TTL_SECONDS * 1000,
  };
}

function workloadTokens(e: z.output<typeof schema>) {
  if (!e.JWT_ISSUER) return null;
  if (!e.JWT_AUDIENCE) throw new ConfigError('JWT_AUDIENCE: required with JWT_ISSUER (the audience this service\'s tokens are issued for)');
  const algorithms = e.JWT_ALGORITHMS.split(',').map((a) => a.trim()).filter(Boolean);
  const refused = algorithms.find((a) => !SIGNATURE_ALGORITHMS.has(a));
  if (refused || !algorithms.length) throw new ConfigError(`JWT_ALGORITHMS: ${refused ?? '(empty)'} is not an asymmetric signature algorithm (none and HMAC are refused)`);
  return { issuer: e.JWT_ISSUER, audience: e.JWT_AUDIENCE, jwksUrl: e.JWT_JWKS_URL ?? null, orgsClaim: e.JWT_ORGS_CLAIM, algorithms };
}

function parseOrigins(value: string | undefined): string[] {
  const origins = (value ?? '').split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean);
  for (const origin of origins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) throw new ConfigError(`CORS_ORIGINS: "${origin}" is not an origin like https://app.example.com`);
  }
  return origins;
}

/** Where Redis is, fit for a log line: a URL's `user:password@` is replaced, passwords never shown. */
export function describeRedis(topology: RedisTopology | null): string {
  if (!topology) return 'none';
  if (topology.kind === 'single') return topology.url.replace(/^([a-z]+:\/\/)[^/@]*@/i, '$1[redacted]@');
  const hosts = topology.kind === 'sentinel' ? topology.sentinels : topology.nodes;
  return `${topology.kind} ${hosts.map((h) => `${h.host}:${h.port}`).join(',')}`;
}

function redisTopology(e: z.output<typeof schema>): RedisTopology | null {
  const given = [e.REDIS_URL && 'REDIS_URL', e.REDIS_SENTINELS && 'REDIS_SENTINELS', e.REDIS_CLUSTER_NODES && 'REDIS_CLUSTER_NODES'].filter(Boolean);
  if (given.length > 1) throw new ConfigError(`${given[1]}: set only one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES`);
  const password = e.REDIS_PASSWORD ? new Secret(e.REDIS_PASSWORD) : null;
  if (e.REDIS_URL) return { kind: 'single', url: e.REDIS_URL };
  if (e.REDIS_SENTINELS) return { kind: 'sentinel', sentinels: hostPorts('REDIS_SENTINELS', e.REDIS_SENTINELS), name: e.REDIS_SENTINEL_NAME, password };
  if (e.REDIS_CLUSTER_NODES) return { kind: 'cluster', nodes: hostPorts('REDIS_CLUSTER_NODES', e.REDIS_CLUSTER_NODES), password };
  return null;
}

function hostPorts(variable: string, value: string): HostPort[] {
  return value.split(',').map((item) => {
    const m = /^\s*\[?([^\]\s]+?)\]?:(\d{1,5})\s*$/.exec(item);
    if (!m || Number(m[2]) > 65535) throw new ConfigError(`${variable}: "${item.trim()}" is not host:port`);
    return { host: m[1]!, port: Number(m[2]) };
  });
}
