import { inspect } from 'node:util';

/**
 * A value that must never reach a log line, a response or an error message.
 * Every way of turning it into text yields "[redacted]"; only `reveal()` gives the value,
 * and only the code that puts it on the wire calls it.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return '[redacted]';
  }
}
