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
 * pino's generic serializer walks the object and escapes every string; a line whose strings need no
 * escaping (every cache hit: the hit path takes only plain paths, and request ids are validated) is
 * written as text straight to pino's destination instead, in pino's own format with the logger's
 * bindings; anything else goes through `logger.info`. A test holds the two to the same output. The
 * destination writes in batches (log-sink.ts). What a line costs a cache hit is measured in
 * bench/RESULTS.md (the cache-hit row against "request log off").
 */
export class RequestLog {
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
    this.metrics.request(line.route, line.status);
    // The line is counted whatever the log level; it is written at info.
    if (!this.logger.isLevelEnabled('info')) return;
    const { reqId, route, method, path, status, cache, consumer, ms } = line;
    // Route, method and cache outcome come from closed sets of plain words; the rest is checked.
    if (!(PLAIN.test(reqId) && PLAIN.test(path) && (consumer === undefined || PLAIN.test(consumer)))) {
      this.logger.info(line, 'request');
      return;
    }
    this.#stream.write(
      `{"level":30,"time":${Date.now()}${this.#bindings},"reqId":"${reqId}","route":"${route}","method":"${method}","path":"${path}","status":${status}` +
        `${cache === undefined ? '' : `,"cache":"${cache}"`}${consumer === undefined ? '' : `,"consumer":"${consumer}"`},"ms":${ms},"msg":"request"}\n`,
    );
  }
}
