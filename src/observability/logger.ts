import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/config.js';
import type { Secret } from '../config/secret.js';

export type { Logger };

/**
 * JSON logs on stdout. Secrets never reach a log call as text: the token is a `Secret`, which serializes
 * as "[redacted]", and request lines carry no headers. Pino's path redaction is deliberately not used:
 * it costs about as much as the rest of a request line, on every line (see bench/RESULTS.md).
 */
export function createLogger(level: LogLevel, destination?: DestinationStream, secrets: ReadonlyArray<Secret | null> = []): Logger {
  // The last line of defence: a secret's value in a line, however it got there, is replaced before the
  // line is written. (What reaches a log call is already checked: see upstream/katapult-client.ts.)
  const values = secrets.flatMap((s) => (s ? [s.reveal()] : [])).filter((v) => v.length >= 8);
  // Lines are buffered up to 1 KiB and written synchronously, flushed at least every 250 ms and at exit:
  // one write per few requests instead of one per request. Measured with bench/'s CPU-per-request
  // figures, 1 KiB beat both no buffer and larger ones (appending to a long buffered string costs more).
  return pino(
    {
      level,
      base: { service: 'katapult-bff' },
      hooks: values.length ? { streamWrite: (line) => values.reduce((out, v) => (out.includes(v) ? out.replaceAll(v, '[redacted]') : out), line) } : {},
    },
    destination ?? pino.destination({ dest: 1, sync: true, minLength: 1024, periodicFlush: 250 }),
  );
}
