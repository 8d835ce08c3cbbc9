import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/config.js';
import type { Secret } from '../config/secret.js';
import { LogSink } from './log-sink.js';

export type { Logger };

/**
 * JSON logs, on stdout in batches unless another destination is given (see log-sink.ts). Secrets never reach a log call as text: the token is a `Secret`, which serializes
 * as "[redacted]", and request lines carry no headers. Pino's path redaction is deliberately not used:
 * it costs about as much as the rest of a request line, on every line (see bench/RESULTS.md).
 */
export function createLogger(level: LogLevel, destination?: DestinationStream, secrets: ReadonlyArray<Secret | null> = []): Logger {
  // The last line of defence: a secret's value in a line, however it got there, is replaced before the
  // line is written. (What reaches a log call is already checked: see upstream/katapult-client.ts.)
  const values = secrets.flatMap((s) => (s ? [s.reveal()] : [])).filter((v) => v.length >= 8);
  return pino(
    {
      level,
      base: { service: 'katapult-bff' },
      hooks: values.length ? { streamWrite: (line) => values.reduce((out, v) => (out.includes(v) ? out.replaceAll(v, '[redacted]') : out), line) } : {},
    },
    destination ?? new LogSink(),
  );
}
