import { z } from 'zod';
import { AppError } from './errors.js';

/**
 * Parses a query string against a strict zod object: an unknown parameter, a repeated one or a bad value
 * is a 400 `invalid_request` whose message names the parameter.
 */
export function parseQuery<S extends z.ZodObject>(search: URLSearchParams, schema: S): z.output<S> {
  const values: Record<string, string> = {};
  for (const [key, value] of search) {
    if (key in values) throw new AppError('invalid_request', `query parameter '${printable(key)}' is given more than once`);
    if (!(key in schema.shape)) throw new AppError('invalid_request', `unknown query parameter '${printable(key)}'`);
    values[key] = value;
  }
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AppError('invalid_request', `query parameter '${String(issue.path[0])}': ${issue.message}`);
  }
  return parsed.data;
}

/** Echo at most a short, plain version of what the caller sent. */
export function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}

/** The query string of a request URL, parsed; the router and the handlers read it the same way. */
export function searchOf(url: string): URLSearchParams {
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}
