import pino from 'pino';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** The fields of the one log line each request gets. No headers: nothing that could carry a key. */
export interface RequestLine {
  reqId: string;
  /** The matched route pattern (`/packages/:ref`), a bounded metrics label; never the raw URL. */
  route: string;
  method: string;
  path: string;
  status: number;
  /** `X-Cache` of the answer, when it came from the package cache. */
  cache?: string;
  /** The consumer's name, when it presented a valid API key. */
  consumer?: string;
  /** Time spent in this service, in milliseconds. */
  ms: number;
}

/** Text that needs no escaping inside a JSON string. */
const PLAIN = /^[\w.:/?=&%-]*$/;

/**
 * Writes the request lines and counts the requests: one place for the hit path and the router.
 *
 * Measured under load (bench/RESULTS.md, server CPU per request), pino's generic serializer costs about
 * 5 µs a line, a quarter of a cache hit. A line whose strings need no JSON escaping (every cache hit: the
 * hit path takes only plain paths and validated request ids) is therefore written as text straight to
 * pino's destination, in pino's own format with the logger's bindings, for about 2 µs; anything else
 * goes through `logger.info`. A test holds the two to the same output.
 */
export class RequestLog {
  readonly #counted = new Map<string, { inc(): void }>();
  readonly #stream: { write(line: string): unknown };
  readonly #bindings: string;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    const internals = logger as unknown as Record<symbol, unknown>;
    this.#stream = internals[pino.symbols.streamSym] as { write(line: string): unknown };
    this.#bindings = internals[pino.symbols.chindingsSym] as string;
  }

  write(line: RequestLine): void {
    this.#counter(line.route, line.status).inc();
    // The line is counted whatever the log level; it is written at info.
    if (!this.logger.isLevelEnabled('info')) return;
    const { reqId, route, method, path, status, cache, consumer, ms } = line;
    if (!(PLAIN.test(reqId) && PLAIN.test(route) && PLAIN.test(method) && PLAIN.test(path) && PLAIN.test(cache ?? '') && PLAIN.test(consumer ?? ''))) {
      this.logger.info(line, 'request');
      return;
    }
    this.#stream.write(
      `{"level":30,"time":${Date.now()}${this.#bindings},"reqId":"${reqId}","route":"${route}","method":"${method}","path":"${path}","status":${status}` +
        `${cache === undefined ? '' : `,"cache":"${cache}"`}${consumer === undefined ? '' : `,"consumer":"${consumer}"`},"ms":${ms},"msg":"request"}\n`,
    );
  }

  #counter(route: string, status: number): { inc(): void } {
    const key = `${route} ${status}`;
    let counter = this.#counted.get(key);
    if (!counter) this.#counted.set(key, (counter = this.metrics.requests.labels(route, String(status))));
    return counter;
  }
}
