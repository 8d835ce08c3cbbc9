import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/config.js';

export type { Logger };

/**
 * JSON logs on stdout. Secrets never reach a log call as text: the token is a `Secret`, which serializes
 * as "[redacted]", and request lines carry no headers. Pino's path redaction is deliberately not used:
 * it costs about as much as the rest of a request line, on every line (see bench/RESULTS.md).
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'katapult-bff' } }, destination ?? pino.destination({ dest: 1, sync: true }));
}
