import type { Secret } from '../config/secret.js';
import { UpstreamError, type UpstreamErrorKind } from './errors.js';
import { readRateLimit, type RateLimit } from './rate-limit.js';
import { wireError, type WirePagination } from './wire.js';
import type { z } from 'zod';
import type { UpstreamGate } from './gate.js';
import type { Cause } from '../domain/cause.js';
import { systemClock, type Clock } from '../domain/clock.js';

/** A 200 with its body, or a 304 meaning "what you have (`If-None-Match`) is still current". */
export type Conditional<T> =
  | { notModified: false; value: T; etag: string | null; rateLimit: RateLimit }
  | { notModified: true; etag: string | null; rateLimit: RateLimit };

/** One page of a list walk; `items` is null when the page answered 304 to the ETag we held for it. */
export interface ListPageResult<T> {
  etag: string | null;
  items: T[] | null;
}
export type ListResult<T> = { notModified: true } | { notModified: false; pages: ListPageResult<T>[] };

/** Told about every upstream exchange, failures included: feeds logs, metrics and the budget governor. */
export interface UpstreamObserver {
  (event: { endpoint: string; status: number | null; outcome: string; rateLimit: RateLimit | null; durationMs: number }): void;
}

/** One Katapult GET: where, with what query, and what a 200 body must parse as. */
export interface UpstreamRequest<S extends z.ZodType> {
  /** The metrics label of the call (`list`, `get`). */
  endpoint: string;
  /** Below the base URL, e.g. `/virtual_machine_packages`. */
  path: string;
  params: URLSearchParams;
  schema: S;
}

/**
 * A Katapult list endpoint (FACTS.md: `page`, `per_page` up to 200, `pagination` with `total_pages` or
 * `large_set`): the request of one page, and the schema of a page with its items under `items`.
 */
export interface ListSpec<T> {
  endpoint: string;
  path: string;
  /** The query every page carries (an organization, say); `page` and `per_page` are added. */
  params: URLSearchParams;
  page: z.ZodType<{ pagination: WirePagination | null; items: T[] }>;
}

export interface KatapultClientOptions {
  /** e.g. `https://api.katapult.io/core/v1`, no trailing slash. */
  baseUrl: string;
  token: Secret | null;
  /**
   * Bound on the whole wait for one upstream answer (a get, or every page of a list walk): the queue for
   * a slot and the exchanges, bodies included. A consumer's request brings its own deadline instead.
   */
  timeoutMs: number;
  /** A body longer than this is abandoned as it streams in, never held whole (default 2 MiB). */
  maxBodyBytes?: number;
  /**
   * The not-found codes the resources declare (`package_not_found`, …): passed on as they came. Any other
   * 404 `*_not_found` is a not-found too, with the code `not_found`.
   */
  notFoundCodes?: ReadonlySet<string>;
  fetch?: typeof fetch;
  /** The service clock, which deadlines are read on. */
  clock?: Clock;
  /** Pages 2..n of a list are fetched with at most this many requests in flight. */
  pageConcurrency?: number;
  observe?: UpstreamObserver;
  /** Breaker, budget and concurrency bound; without one, requests go straight out (tests of the client). */
  gate?: UpstreamGate;
  now?: () => number;
}

/** Katapult's maximum `per_page`: the fewest requests for a full list. */
export const PER_PAGE = 200;
/**
 * Far above any real body: a page of 200 packages is about 35 KB (60 KB with icon URLs), and even with
 * every string at the wire schema's bound (`packages/wire.ts`) under 600 KB. Reading up to it costs the
 * process about three times as much at its peak (the chunks and the collector's slack: 6 MiB).
 */
export const DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024;
/** A list longer than this many pages is treated as a malformed answer rather than walked forever. */
const MAX_PAGES = 100;
const USER_AGENT = 'katapult-bff/0.1 (+caching gateway)';

/**
 * Katapult core/v1 for any resource: one GET with its token, timeout, conditional request, rate-limit
 * headers and wrapped errors, and the walk over a list's pages. What a resource's bodies look like is
 * the resource's (e.g. `packages/wire.ts`).
 */
export class KatapultClient {
  readonly #opts: Required<Omit<KatapultClientOptions, 'token' | 'observe' | 'gate'>> & Pick<KatapultClientOptions, 'token' | 'observe' | 'gate'>;

  constructor(opts: KatapultClientOptions) {
    this.#opts = {
      ...opts,
      fetch: opts.fetch ?? globalThis.fetch,
      pageConcurrency: opts.pageConcurrency ?? 4,
      maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      notFoundCodes: opts.notFoundCodes ?? new Set(),
      clock: opts.clock ?? systemClock,
      now: opts.now ?? (() => performance.now()),
    };
  }

  /** One GET, through the gate (breaker, budget, concurrency) when there is one. */
  get<S extends z.ZodType>(req: UpstreamRequest<S>, ifNoneMatch: string | null | undefined, cause: Cause): Promise<Conditional<z.output<S>>> {
    return this.#get(req, ifNoneMatch, cause, this.#deadline(cause));
  }

  /** When the wait for an answer ends: the consumer's request's own deadline, else `timeoutMs` from now. */
  #deadline(cause: Cause): number {
    const own = this.#opts.clock.now() + this.#opts.timeoutMs;
    return cause.priority === 'consumer' && cause.deadline !== undefined ? Math.min(cause.deadline, own) : own;
  }

  #get<S extends z.ZodType>(req: UpstreamRequest<S>, ifNoneMatch: string | null | undefined, cause: Cause, deadline: number): Promise<Conditional<z.output<S>>> {
    const gate = this.#opts.gate;
    if (gate) return gate.run(cause, deadline, (timeoutMs) => this.#send(req, ifNoneMatch, timeoutMs));
    return this.#send(req, ifNoneMatch, deadline - this.#opts.clock.now());
  }

  /**
   * Every page of a list: page 1 first (it says how many there are), the rest concurrently.
   * With `previousEtags` (one per page, from the last walk) every page is asked conditionally;
   * `{notModified: true}` means no page changed.
   */
  async listAll<T>(spec: ListSpec<T>, previousEtags: readonly (string | null)[] | undefined, cause: Cause): Promise<ListResult<T>> {
    // One deadline for the whole walk: every page's queue and exchange count against it.
    const deadline = this.#deadline(cause);
    const page = (n: number, ifNoneMatch: string | null | undefined) => this.#page(spec, n, ifNoneMatch, cause, deadline);
    const result = await this.#walk(page, previousEtags);
    // The page count moved under a conditional walk: pages no longer line up with what we held.
    return result === 'shifted' ? ((await this.#walk(page, undefined)) as ListResult<T>) : result;
  }

  #page<T>(spec: ListSpec<T>, page: number, ifNoneMatch: string | null | undefined, cause: Cause, deadline: number) {
    const params = new URLSearchParams(spec.params);
    params.set('page', String(page));
    params.set('per_page', String(PER_PAGE));
    return this.#get({ endpoint: spec.endpoint, path: spec.path, params, schema: spec.page }, ifNoneMatch, cause, deadline);
  }

  async #walk<T>(
    fetchPage: (page: number, ifNoneMatch: string | null | undefined) => Promise<Conditional<{ pagination: WirePagination | null; items: T[] }>>,
    previous: readonly (string | null)[] | undefined,
  ): Promise<ListResult<T> | 'shifted'> {
    const first = await fetchPage(1, previous?.[0]);
    if (first.notModified && !previous) throw new UpstreamError('bad_response', 'upstream answered 304 to an unconditional request', 304);
    const totalPages = first.notModified ? previous!.length : first.value.pagination?.total_pages ?? null;
    const pages: ListPageResult<T>[] = [{ etag: first.etag, items: first.notModified ? null : first.value.items }];

    if (totalPages === null) {
      // `large_set`: no total is given, so walk on until a page shorter than upstream's own page size.
      let last = first.notModified ? [] : first.value.items;
      const pageSize = (first.notModified ? null : first.value.pagination?.per_page) ?? PER_PAGE;
      for (let page = 2; last.length === pageSize; page++) {
        if (page > MAX_PAGES) throw new UpstreamError('bad_response', `list longer than ${MAX_PAGES} pages`);
        const res = await fetchPage(page, null);
        if (res.notModified) throw new UpstreamError('bad_response', 'upstream answered 304 to an unconditional request', 304);
        last = res.value.items;
        pages.push({ etag: res.etag, items: last });
      }
      return { notModified: false, pages };
    }
    if (totalPages > MAX_PAGES) throw new UpstreamError('bad_response', `list of ${totalPages} pages exceeds ${MAX_PAGES}`);
    if (previous && totalPages !== previous.length) return 'shifted';

    const rest = await mapLimit(range(2, totalPages), this.#opts.pageConcurrency, (page) => fetchPage(page, previous?.[page - 1]));
    for (const res of rest) {
      if (!res.notModified && res.value.pagination?.total_pages != null && res.value.pagination.total_pages !== totalPages) {
        if (previous) return 'shifted';
        throw new UpstreamError('bad_response', 'page count changed during the walk');
      }
      pages.push({ etag: res.etag, items: res.notModified ? null : res.value.items });
    }
    return pages.every((p) => p.items === null) ? { notModified: true } : { notModified: false, pages };
  }

  /** One exchange, within `timeoutMs` (what is left of the call's deadline), its body read up to `maxBodyBytes`. */
  async #send<S extends z.ZodType>({ endpoint, path, params, schema }: UpstreamRequest<S>, ifNoneMatch: string | null | undefined, timeoutMs: number): Promise<Conditional<z.output<S>>> {
    const { baseUrl, token, fetch, now, maxBodyBytes } = this.#opts;
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT };
    if (token) headers.authorization = `Bearer ${token.reveal()}`;
    if (ifNoneMatch) headers['if-none-match'] = ifNoneMatch;
    const started = now();
    const report = (status: number | null, outcome: string, rateLimit: RateLimit | null) =>
      this.#opts.observe?.({ endpoint, status, outcome, rateLimit, durationMs: now() - started });

    if (timeoutMs <= 0) {
      report(null, 'timeout', null);
      throw new UpstreamError('timeout', 'no time left before the deadline');
    }
    let res: Response;
    let text: string | null;
    try {
      // The signal bounds the whole exchange, body included: a connection that hangs mid-body times out too.
      res = await fetch(`${baseUrl}${path}?${params}`, { headers, signal: AbortSignal.timeout(Math.ceil(timeoutMs)) });
      if (res.status === 304) {
        await res.body?.cancel();
        const rateLimit = readRateLimit(res.headers);
        report(304, 'not_modified', rateLimit);
        return { notModified: true, etag: res.headers.get('etag') ?? ifNoneMatch ?? null, rateLimit };
      }
      text = await readBounded(res, maxBodyBytes);
    } catch (err) {
      const kind = isTimeout(err) ? 'timeout' : 'unavailable';
      report(null, kind, null);
      throw new UpstreamError(kind, kind === 'timeout' ? `no answer within ${Math.round(timeoutMs)} ms` : `connection failed (${causeCode(err)})`);
    }

    const rateLimit = readRateLimit(res.headers);
    if (text === null) {
      report(res.status, 'bad_response', rateLimit);
      throw new UpstreamError('bad_response', `body larger than ${maxBodyBytes} bytes`, res.status, null, rateLimit);
    }
    if (res.status === 200) {
      const body = schema.safeParse(safeJson(text));
      if (!body.success) {
        report(200, 'bad_response', rateLimit);
        throw new UpstreamError('bad_response', 'malformed 200 body', 200, null, rateLimit);
      }
      report(200, 'ok', rateLimit);
      return { notModified: false, value: body.data, etag: res.headers.get('etag'), rateLimit };
    }

    const envelope = wireError.safeParse(safeJson(text));
    const sent = envelope.success ? envelope.data.error.code : null;
    // Katapult has no such thing: an answer of any resource's (never a failure of upstream's).
    const notFound = res.status === 404 && sent !== null && sent.endsWith('_not_found') && sent !== 'route_not_found';
    // Only codes Katapult is known to send go further (into logs and errors): an error body can carry
    // anything, the request's own Authorization header included.
    const code = sent === null ? null : KNOWN_CODES.has(sent) || this.#opts.notFoundCodes.has(sent) ? sent : notFound ? 'not_found' : 'unrecognized';
    const kind = notFound ? 'not_found' : errorKind(res.status, code);
    report(res.status, kind, rateLimit);
    throw new UpstreamError(kind, `upstream ${res.status}${code ? ` ${code}` : ''}`, res.status, code, rateLimit);
  }
}

/**
 * Katapult's error codes that are not about one resource (FACTS.md, Errors); the resources add their
 * not-found codes; any other is reported as `unrecognized`.
 */
const KNOWN_CODES = new Set([
  'missing_api_token',
  'invalid_argument',
  'invalid_api_token',
  'unauthorized_network_for_api_token',
  'invalid_capabilities_token',
  'scope_not_granted',
  'organization_suspended',
  'organization_not_activated',
  'route_not_found',
  'rate_limit_reached',
  'service_unavailable',
]);

function errorKind(status: number, code: string | null): UpstreamErrorKind {
  if (status === 429 || code === 'rate_limit_reached') return 'rate_limited';
  if (status === 503 || status === 502 || status === 504) return 'unavailable';
  if (status === 400 || status === 401 || status === 403) return 'rejected';
  return status >= 500 ? 'unavailable' : 'bad_response';
}

/**
 * The body as text, read as it streams in; null (and the rest left unread, the connection dropped) once
 * it passes `maxBytes`, so an oversized body never sits in memory whole.
 */
async function readBounded(res: Response, maxBytes: number): Promise<string | null> {
  const declared = Number(res.headers.get('content-length'));
  if (declared > maxBytes) {
    await res.body?.cancel();
    return null;
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of res.body) {
    length += chunk.byteLength;
    if (length > maxBytes) {
      await res.body.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, length).toString('utf8');
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isTimeout(err: unknown): boolean {
  return err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

function causeCode(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  return typeof cause?.code === 'string' ? cause.code : 'network error';
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/** Runs `fn` over `items` with at most `limit` calls in flight, keeping the input order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
