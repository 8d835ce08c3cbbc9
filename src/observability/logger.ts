import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/config.js';
import type { Secret } from '../config/secret.js';
import { LogSink } from './log-sink.js';

export type { Logger };

/** stdout in batches, made once: every logger that names no destination shares it (one buffer, one exit flush). */
let stdout: LogSink | undefined;

/**
 * JSON logs, on stdout in batches unless another destination is given (see log-sink.ts). Secrets never
 * reach a log call as text: the token is a `Secret`, which serializes as "[redacted]", and request lines
 * carry no headers. Pino's path redaction is not used: it would walk every line for paths that never
 * hold a secret here, and the scrubbing destination below catches a secret's value wherever it appears.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream, secrets: ReadonlyArray<Secret | null> = []): Logger {
  // The last line of defence: a secret's value in a line, however it got there, is replaced before the
  // line is written. (What reaches a log call is already checked: see upstream/katapult-client.ts.) It
  // wraps the destination rather than hooking pino's serializer, so request lines written as text
  // (request-log.ts) pass through it too.
  const values = secrets.flatMap((s) => (s ? [s.reveal()] : [])).filter((v) => v.length >= 8);
  const out = destination ?? (stdout ??= new LogSink());
  return pino({ level, base: { service: 'katapult-bff' } }, values.length ? scrubbing(out, values) : out);
}

function scrubbing(out: DestinationStream & { flush?: (cb?: () => void) => void }, values: string[]): DestinationStream {
  return {
    write: (line: string) => out.write(values.reduce((text, v) => (text.includes(v) ? text.replaceAll(v, '[redacted]') : text), line)),
    // pino's logger.flush() reaches the sink through this.
    ...(out.flush ? { flush: (cb?: () => void) => out.flush!(cb) } : {}),
  } as DestinationStream;
}
