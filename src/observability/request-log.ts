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

/** Writes the request lines and counts the requests: one place for the hit path and the router. */
export class RequestLog {
  readonly #counted = new Map<string, { inc(): void }>();

  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  write(line: RequestLine): void {
    const key = `${line.route} ${line.status}`;
    let counter = this.#counted.get(key);
    if (!counter) this.#counted.set(key, (counter = this.metrics.requests.labels(line.route, String(line.status))));
    counter.inc();
    // The line is counted whatever the log level; it is written at info.
    this.logger.info(line, 'request');
  }
}
