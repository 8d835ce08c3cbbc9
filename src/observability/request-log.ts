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

/** A line of which all is known ahead but the request id (`requestId()`'s: plain), the path and the time. */
export type PreparedLine = (reqId: string, path: string, ms: number) => void;

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
  /** Whether lines are written (info is enabled), asked of pino when its level changes rather than per line. */
  #writing: boolean;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    const internals = logger as unknown as Record<symbol, unknown>;
    this.#stream = internals[pino.symbols.streamSym] as { write(line: string): unknown };
    this.#bindings = internals[pino.symbols.chindingsSym] as string;
    this.#writing = logger.isLevelEnabled('info');
    logger.on('level-change', () => {
      this.#writing = logger.isLevelEnabled('info');
    });
  }

  write(line: RequestLine): void {
    this.metrics.request(line.route, line.status);
    // The line is counted whatever the log level; it is written at info.
    if (!this.#writing) return;
    const { reqId, route, method, path, status, cache, consumer, ms } = line;
    // Route, method and cache outcome come from closed sets of plain words; the rest is checked.
    if (!(PLAIN.test(reqId) && PLAIN.test(path) && (consumer === undefined || PLAIN.test(consumer)))) {
      this.logger.info(line, 'request');
      return;
    }
    const [beforePath, afterPath] = fieldsAround(route, method, status, cache, consumer);
    this.#plain(reqId, beforePath, path, afterPath, ms);
  }

  /**
   * The same line for a caller that writes it again and again with other ids, paths and times (the hit
   * path, for each answer it keeps): its fixed fields are made into text once, and the count is found once.
   */
  prepare(route: string, method: string, status: number, cache: string): PreparedLine {
    const count = this.metrics.requestCount(route, status);
    const [beforePath, afterPath] = fieldsAround(route, method, status, cache, undefined);
    return (reqId, path, ms) => {
      count.n++;
      if (!this.#writing) return;
      if (PLAIN.test(path)) this.#plain(reqId, beforePath, path, afterPath, ms);
      else this.logger.info({ reqId, route, method, path, status, cache, ms }, 'request');
    };
  }

  /** One line of plain text, in pino's format with the logger's bindings. */
  #plain(reqId: string, beforePath: string, path: string, afterPath: string, ms: number): void {
    this.#stream.write(`{"level":30,"time":${timeText()}${this.#bindings},"reqId":"${reqId}${beforePath}${path}${afterPath}${tenthsText(ms)},"msg":"request"}\n`);
  }
}

/*
 * Numbers as JavaScript writes them, without its general double-to-text conversion for each line: the
 * time is made of two small integers, once per millisecond (many lines share one under load), and a
 * duration in tenths of a millisecond of two more.
 */
let lastTime = 0;
let lastTimeText = '0';
function timeText(): string {
  const now = Date.now();
  if (now !== lastTime) {
    lastTime = now;
    const low = now % 1_000_000;
    lastTimeText = `${(now - low) / 1_000_000}${String(1_000_000 + low).slice(1)}`;
  }
  return lastTimeText;
}

function tenthsText(ms: number): string {
  const tenths = Math.round(ms * 10);
  const rest = tenths % 10;
  return rest === 0 ? String(tenths / 10) : `${(tenths - rest) / 10}.${rest}`;
}

/** The JSON of a line's fields on either side of its path, from the request id's closing quote to `"ms":`. */
function fieldsAround(route: string, method: string, status: number, cache: string | undefined, consumer: string | undefined): [string, string] {
  return [
    `","route":"${route}","method":"${method}","path":"`,
    `","status":${status}${cache === undefined ? '' : `,"cache":"${cache}"`}${consumer === undefined ? '' : `,"consumer":"${consumer}"`},"ms":`,
  ];
}
