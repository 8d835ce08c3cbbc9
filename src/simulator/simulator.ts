import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ORGANIZATIONS, seedPackages, type SimOrganization, type SimPackage } from './seed.js';

/**
 * A Katapult core/v1 stand-in for the two package endpoints, behaving as shared/katapult/FACTS.md
 * describes the real API: wrapped error envelope, weak ETags from the body's SHA-256, a fixed
 * clock-minute rate limit with `X-Ratelimit-*` headers, the list's reduced field set, both get URL forms.
 * Tests switch faults on and read per-route request counts.
 */

export interface SimulatorOptions {
  /** The token that is accepted; any other gets 403 `invalid_api_token`. */
  token?: string;
  /** Requests per window (Katapult: usually 1000 per clock minute). */
  budgetPerMinute?: number;
  /** Length of the rate-limit window in ms; tests shorten it instead of waiting a minute. */
  windowMs?: number;
  now?: () => number;
  packages?: SimPackage[];
  organizations?: SimOrganization[];
  /** The most items a list page holds, whatever `per_page` asks for (pages shorter than asked). */
  maxPerPage?: number;
}

export type Fault =
  | { kind: 'latency'; ms: number }
  | { kind: 'status'; status: 503 | 429 | 500 }
  | { kind: 'malformed' }
  /** Accepts the request and never answers. */
  | { kind: 'hang' }
  /** A hostile or broken upstream: an error whose code, description, detail and headers all echo the request's Authorization header. */
  | { kind: 'echo'; status: 401 | 403 | 500 };

export type Route = 'list' | 'get' | 'other';

export interface RequestRecord {
  route: Route;
  status: number;
  query: string;
  ifNoneMatch: string | null;
}

const LIST_FIELDS = ['id', 'name', 'permalink', 'cpu_cores', 'ipv4_addresses', 'memory_in_gb', 'storage_in_gb', 'privacy', 'icon'] as const;
const GET_FIELDS = [...LIST_FIELDS.slice(0, 7), 'monthly_bandwidth_allowance_in_gb', 'privacy', 'icon', 'use_dedicated_cpus', 'group'] as const;
const PREFIX = '/core/v1/';

export class KatapultSimulator {
  readonly token: string;
  readonly budget: number;
  readonly windowMs: number;
  readonly maxPerPage: number;
  packages: SimPackage[];
  readonly organizations: SimOrganization[];
  /** Every request that reached a route, in order. */
  readonly log: RequestRecord[] = [];
  /** Requests held without an answer by a `hang` fault. */
  hanging = 0;
  /** Requests received so far (answered or not), and who waits for a count of them. */
  #received = 0;
  #waiters: Array<{ count: number; resolve: () => void }> = [];

  #now: () => number;
  #window = -1;
  #used = 0;
  #fault: { fault: Fault; remaining: number; route: Route | undefined } | null = null;
  #server: Server | null = null;
  #sockets = new Set<Socket>();

  constructor(opts: SimulatorOptions = {}) {
    this.token = opts.token ?? 'sim-token';
    this.budget = opts.budgetPerMinute ?? 1000;
    this.windowMs = opts.windowMs ?? 60_000;
    this.maxPerPage = opts.maxPerPage ?? 200;
    this.#now = opts.now ?? Date.now;
    this.packages = opts.packages ?? seedPackages();
    this.organizations = opts.organizations ?? ORGANIZATIONS;
  }

  /** How many requests reached `route` (all routes when omitted) since the last `resetCounts()`. */
  count(route?: Route): number {
    return route ? this.log.filter((r) => r.route === route).length : this.log.length;
  }

  resetCounts(): void {
    this.log.length = 0;
  }

  /** Resolves once `count` requests in all (answered, failed or hanging) have reached the simulator. */
  received(count = 1): Promise<void> {
    if (this.#received >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  /**
   * Applies `fault` to the next `times` requests (every request when omitted) of `route` (any route when
   * omitted); null clears it.
   */
  setFault(fault: Fault | null, times = Infinity, route?: Route): void {
    this.#fault = fault ? { fault, remaining: times, route } : null;
  }

  updatePackage(id: string, patch: Partial<SimPackage>): void {
    const i = this.packages.findIndex((p) => p.id === id);
    if (i < 0) throw new Error(`no package ${id}`);
    this.packages[i] = { ...this.packages[i]!, ...patch };
  }

  /** Starts listening on loopback; resolves to the base URL (`http://127.0.0.1:PORT/core/v1`). */
  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    const addr = server.address() as AddressInfo;
    const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `http://${shown}:${addr.port}/core/v1`;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    this.#server = null;
  }

  /** The request handler, usable on any node:http server. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.#received++;
    this.#waiters = this.#waiters.filter((w) => (w.count <= this.#received ? (w.resolve(), false) : true));
    const url = new URL(req.url ?? '/', 'http://sim');
    const route = routeOf(url.pathname);
    const send = (status: number, body: string, headers: Record<string, string>) => {
      this.log.push({ route, status, query: url.search, ifNoneMatch: req.headers['if-none-match'] ?? null });
      res.writeHead(status, { 'content-type': 'application/json', ...this.#rateHeaders(), ...headers });
      res.end(status === 304 ? undefined : body);
    };
    const fail = (status: number, code: string, description: string, detail: object = {}) =>
      send(status, JSON.stringify({ error: { code, description, detail } }), { 'cache-control': 'no-cache', 'x-api-schema': 'json-error' });

    const auth = req.headers.authorization;
    if (!auth) return fail(400, 'missing_api_token', 'No API token was provided in the Authorization header');
    if (auth !== `Bearer ${this.token}`) return fail(403, 'invalid_api_token', 'The API token provided was not valid');
    if (!this.#spend()) {
      return fail(429, 'rate_limit_reached', 'You have reached the rate limit for this type of request', { total_permitted: this.budget });
    }

    const fault = this.#takeFault(route);
    const answer = () => {
      if (req.method !== 'GET' || route === 'other') return fail(404, 'route_not_found', `No route matches '${url.pathname}' for ${req.method}`);
      if (fault?.kind === 'status') {
        return fault.status === 429
          ? fail(429, 'rate_limit_reached', 'You have reached the rate limit for this type of request', { total_permitted: this.budget })
          : fail(fault.status, 'service_unavailable', 'The service is currently unavailable');
      }
      if (fault?.kind === 'echo') {
        const echoed = String(auth);
        const body = JSON.stringify({ error: { code: `code_${echoed.replace(/\s/g, '_')}`, description: `bad ${echoed}`, detail: { authorization: echoed } } });
        return send(fault.status, body, { 'x-echo': echoed, etag: `W/"${echoed}"`, 'x-ratelimit-remaining': echoed });
      }
      if (fault?.kind === 'malformed') return send(200, '{"virtual_machine_packages":[{"id":', { 'cache-control': 'max-age=0, private, must-revalidate' });
      const result = route === 'list' ? this.#list(url.searchParams) : this.#get(url.pathname, url.searchParams);
      if ('error' in result) return fail(result.status, result.error, result.description, result.detail);
      const etag = `W/"${createHash('sha256').update(result.body).digest('hex').slice(0, 32)}"`;
      const headers = { etag, 'cache-control': 'max-age=0, private, must-revalidate' };
      if (matches(req.headers['if-none-match'], etag)) return send(304, '', headers);
      send(200, result.body, headers);
    };
    if (fault?.kind === 'hang') {
      this.hanging++;
      return;
    }
    if (fault?.kind === 'latency') setTimeout(answer, fault.ms);
    else answer();
  };

  #spend(): boolean {
    const window = Math.floor(this.#now() / this.windowMs);
    if (window !== this.#window) {
      this.#window = window;
      this.#used = 0;
    }
    if (this.#used >= this.budget) return false;
    this.#used++;
    return true;
  }

  #rateHeaders(): Record<string, string> {
    return { 'x-ratelimit-permitted': String(this.budget), 'x-ratelimit-remaining': String(Math.max(0, this.budget - this.#used)) };
  }

  #takeFault(route: Route): Fault | null {
    if (!this.#fault || (this.#fault.route && this.#fault.route !== route)) return null;
    const { fault } = this.#fault;
    if (--this.#fault.remaining <= 0) this.#fault = null;
    return fault;
  }

  #list(q: URLSearchParams): Outcome {
    const org = pickOne(q, 'organization', ['id', 'sub_domain']);
    if (org === 'ambiguous') return invalid('ambiguous_lookup_values');
    const page = intParam(q.get('page'), 1);
    const asked = intParam(q.get('per_page'), 30);
    if (page === null || asked === null) return invalid('parse_error');
    if (page < 1 || asked < 1 || asked > 200) return invalid('validation_errors');
    const perPage = Math.min(asked, this.maxPerPage);

    let organization: SimOrganization | undefined;
    if (org) {
      organization = this.organizations.find((o) => (org.key === 'id' ? o.id : o.sub_domain) === org.value);
      if (!organization) return notFound('organization_not_found', 'No organization was found matching any of the criteria provided in the arguments');
    }
    const visible = this.packages.filter((p) => p.privacy === 'public' || p.organizationId === organization?.id);
    // The list's field spec is `…,icon[url]`: the icon comes with its url only.
    const items = visible
      .slice((page - 1) * perPage, page * perPage)
      .map((p) => ({ ...pick(p, LIST_FIELDS), icon: p.icon ? { url: p.icon.url } : null }));
    const totalPages = Math.max(1, Math.ceil(visible.length / perPage));
    const pagination = { current_page: page, total_pages: totalPages, total: visible.length, per_page: perPage, large_set: false };
    return { body: JSON.stringify({ pagination, virtual_machine_packages: items }) };
  }

  #get(pathname: string, q: URLSearchParams): Outcome {
    const lookup = pickOne(q, 'virtual_machine_package', ['id', 'permalink']);
    if (lookup === 'ambiguous') return invalid('ambiguous_lookup_values');
    // Apia: without a lookup key in the query, the path segment is the id (so `/_` alone finds nothing).
    const segment = decodeURIComponent(pathname.slice(`${PREFIX}virtual_machine_packages/`.length));
    const { key, value } = lookup ?? { key: 'id', value: segment };
    const found = this.packages.find((p) => (key === 'id' ? p.id : p.permalink) === value);
    if (!found) return notFound('package_not_found', 'No package was found matching any of the criteria provided in the arguments');
    return { body: JSON.stringify({ virtual_machine_package: pick(found, GET_FIELDS) }) };
  }
}

type Outcome = { body: string } | { error: string; status: number; description: string; detail: object };

function routeOf(pathname: string): Route {
  if (pathname === `${PREFIX}virtual_machine_packages`) return 'list';
  if (/^\/core\/v1\/virtual_machine_packages\/[^/]+$/.test(pathname)) return 'get';
  return 'other';
}

function invalid(issue: string): Outcome {
  return { error: 'invalid_argument', status: 400, description: 'The argument provided was invalid', detail: { issue } };
}

function notFound(code: string, description: string): Outcome {
  return { error: code, status: 404, description, detail: {} };
}

/** Reads `name[a]` / `name[b]`: one of them, none (undefined), or both ("ambiguous"). */
function pickOne(q: URLSearchParams, name: string, keys: string[]): { key: string; value: string } | undefined | 'ambiguous' {
  const given = keys.filter((k) => q.has(`${name}[${k}]`));
  if (given.length > 1) return 'ambiguous';
  const key = given[0];
  return key === undefined ? undefined : { key, value: q.get(`${name}[${key}]`)! };
}

function intParam(value: string | null, fallback: number): number | null {
  if (value === null) return fallback;
  return /^-?\d{1,9}$/.test(value) ? Number(value) : null;
}

function pick(p: SimPackage, fields: readonly string[]): Record<string, unknown> {
  const rec = p as unknown as Record<string, unknown>;
  return Object.fromEntries(fields.map((f) => [f, rec[f] ?? null]));
}

/** Weak comparison (RFC 9110 §13.1.2): `*` or any listed tag equal to `etag` ignoring `W/`. */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => t.trim() === '*' || t.trim().replace(/^W\//, '') === bare);
}
