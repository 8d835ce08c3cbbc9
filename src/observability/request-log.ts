import pino from 'pino';
import { unscrubbedDestination, type Logger, type Unscrubbed } from './logger.js';
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

/**
 * A line of which all is known ahead but the request id, the path, the duration and the time. The id is
 * plain (as `requestId()` makes them); `idFromClient` says it came in a request header, so it is checked
 * for secrets as a path is. `now` (ms since the epoch) is the line's time: the caller's reading of the
 * service's clock (the wall clock, but where a test injects another), so a line costs no clock reading
 * of its own.
 */
export type PreparedLine = (reqId: string, path: string, ms: number, idFromClient: boolean, now: number) => void;

/** Text that needs no escaping inside a JSON string. */
const PLAIN = /^[\w.:/?=&%-]*$/;
const MSG = ',"msg":"request"}\n';
/** Prepared lines keep their ending for each duration under this many tenths of a millisecond. */
const KEPT_ENDINGS = 10;

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
  readonly #unscrubbed: Unscrubbed;
  readonly #bindings: string;
  /** Whether lines are written (info is enabled), asked of pino when its level changes rather than per line. */
  #writing: boolean;
  /** Each line's text up to its request id, made once per millisecond: lines under load share it. */
  #headTime = -1;
  #head = '';

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    const internals = logger as unknown as Record<symbol, unknown>;
    this.#stream = internals[pino.symbols.streamSym] as { write(line: string): unknown };
    this.#unscrubbed = unscrubbedDestination(logger);
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
    // Through the scrubbing destination, which searches the whole line for secrets.
    this.#stream.write(this.#headAt(Date.now()) + reqId + beforePath + path + afterPath + tenthsText(Math.round(ms * 10)) + MSG);
  }

  /**
   * The same line for a caller that writes it again and again with other ids, paths and times (the hit
   * path, for each answer it keeps): its fixed fields are made into text once, with its endings for the
   * usual durations, and the count is found once. Only what varies is checked: a path once, while it
   * repeats (plain, and holding no secret, with the scrubbing's own test), an id from a client each time;
   * a line that fails either takes `logger.info` and the scrubbing destination.
   */
  prepare(route: string, method: string, status: number, cache: string): PreparedLine {
    const count = this.metrics.requestCount(route, status);
    const [beforePath, afterPath] = fieldsAround(route, method, status, cache, undefined);
    const endings = Array.from({ length: KEPT_ENDINGS }, (_, tenths) => afterPath + tenthsText(tenths) + MSG);
    const out = this.#unscrubbed;
    /** The last path found plain and free of secrets (a hit path sees the same few again and again)... */
    let checked = '';
    /** ...and the line's text after its id, with that path, for each duration: made when first needed. */
    let tails: string[] = [];
    return (reqId, path, ms, idFromClient, now) => {
      count.n++;
      if (!this.#writing) return;
      if (path !== checked) {
        if (!PLAIN.test(path) || out.holdsSecret(path)) return this.#slow(reqId, route, method, path, status, cache, ms);
        checked = path;
        tails = [];
      }
      if (idFromClient && out.holdsSecret(reqId)) return this.#slow(reqId, route, method, path, status, cache, ms);
      const tenths = Math.round(ms * 10);
      // Kept tails are joined into one flat string (a `+` would keep three pieces, walked in every line).
      const tail = tenths < KEPT_ENDINGS ? (tails[tenths] ??= [beforePath, path, endings[tenths]].join('')) : beforePath + path + afterPath + tenthsText(tenths) + MSG;
      out.write(this.#headAt(now) + reqId + tail);
    };
  }

  /** The line through pino's own serializer and the scrubbing destination. */
  #slow(reqId: string, route: string, method: string, path: string, status: number, cache: string, ms: number): void {
    this.logger.info({ reqId, route, method, path, status, cache, ms }, 'request');
  }

  /** `{"level":30,"time":…` for `now` (ms since the epoch), with the logger's bindings, up to the request id's opening quote. */
  #headAt(now: number): string {
    if (now !== this.#headTime) {
      this.#headTime = now;
      // One flat string, as the kept tails are (see `prepare`).
      this.#head = ['{"level":30,"time":', timeText(now), this.#bindings, ',"reqId":"'].join('');
    }
    return this.#head;
  }
}

/*
 * Numbers as JavaScript writes them, without its general double-to-text conversion for each line: the
 * time is made of two small integers (once per millisecond: many lines share one under load), and a
 * duration in tenths of a millisecond of two more.
 */
function timeText(now: number): string {
  const low = now % 1_000_000;
  return `${(now - low) / 1_000_000}${String(1_000_000 + low).slice(1)}`;
}

function tenthsText(tenths: number): string {
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
