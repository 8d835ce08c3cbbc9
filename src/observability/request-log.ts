import type { Logger } from './logger.js';

/** The fields of the one log line each request gets. No headers: nothing that could carry a key. */
export interface RequestLine {
  reqId: string;
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

/** Writes the request lines: one shape for the hit path and the router. */
export class RequestLog {
  constructor(private readonly logger: Logger) {}

  write(line: RequestLine): void {
    this.logger.info(line, 'request');
  }
}
