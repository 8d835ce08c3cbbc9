import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/config.js';
import type { Secret } from '../config/secret.js';
import { LogSink } from './log-sink.js';

export type { Logger };

/** stdout in batches, made once: every logger that names no destination shares it (one buffer, one exit flush). */
let stdout: LogSink | undefined;

/**
 * A logger's destination beneath its scrubbing, and the test the scrubbing applies: for a writer of many
 * lines of which only a few parts vary (request-log.ts), which checks those parts once rather than
 * searching every whole line.
 */
export interface Unscrubbed {
  write(line: string): unknown;
  /** Whether `text` holds the value of a secret the logger was given. */
  holdsSecret(text: string): boolean;
}

const unscrubbed = new WeakMap<Logger, Unscrubbed>();

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
  // (request-log.ts) pass through it too, or are checked with the same test.
  const values = secrets.flatMap((s) => (s ? [s.reveal()] : [])).filter((v) => v.length >= 8);
  const out = destination ?? (stdout ??= new LogSink());
  const holdsSecret = (text: string) => values.some((v) => text.includes(v));
  const logger = pino({ level, base: { service: 'katapult-bff' } }, values.length ? scrubbing(out, values) : out);
  unscrubbed.set(logger, { write: (line) => out.write(line), holdsSecret });
  return logger;
}

/** `logger`'s destination beneath its scrubbing (for a logger made elsewhere, its destination, with no secrets). */
export function unscrubbedDestination(logger: Logger): Unscrubbed {
  const made = unscrubbed.get(logger);
  if (made) return made;
  const stream = (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!;
  return { write: (line) => stream.write(line), holdsSecret: () => false };
}

function scrubbing(out: DestinationStream & { flush?: (cb?: () => void) => void }, values: string[]): DestinationStream {
  return {
    write: (line: string) => out.write(values.reduce((text, v) => (text.includes(v) ? text.replaceAll(v, '[redacted]') : text), line)),
    // pino's logger.flush() reaches the sink through this.
    ...(out.flush ? { flush: (cb?: () => void) => out.flush!(cb) } : {}),
  } as DestinationStream;
}
