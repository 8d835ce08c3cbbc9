import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/config.js';

export type { Logger };

/**
 * JSON logs on stdout. Secrets never reach a log call as text: the token is a `Secret`, which serializes
 * as "[redacted]", and request lines carry no headers. Pino's path redaction is deliberately not used:
 * it costs about as much as the rest of a request line, on every line (see bench/RESULTS.md).
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  // Lines are buffered up to 1 KiB and written synchronously, flushed at least every 250 ms and at exit:
  // one write per few requests instead of one per request. Measured with bench/'s CPU-per-request
  // figures, 1 KiB beat both no buffer and larger ones (appending to a long buffered string costs more).
  return pino(
    { level, base: { service: 'katapult-bff' } },
    destination ?? pino.destination({ dest: 1, sync: true, minLength: 1024, periodicFlush: 250 }),
  );
}
