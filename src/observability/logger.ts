import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/config.js';

export type { Logger };

/**
 * JSON logs. Secrets are `Secret` objects that print as "[redacted]"; the paths below are a second
 * line of defence for anything that carries credentials in a header.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'katapult-bff' },
      redact: {
        paths: ['headers.authorization', 'headers["x-api-key"]', '*.headers.authorization', 'token', '*.token'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
