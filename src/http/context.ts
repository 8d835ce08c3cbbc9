import type { Context } from 'hono';
import type { Consumer } from '../config/api-keys.js';

/** What middleware hands on to handlers and to the request log line. */
export type AppEnv = {
  Variables: {
    requestId: string;
    /** The caller, when it presented a valid API key; null when anonymous. */
    consumer: Consumer | null;
    /** The consumer's request-limit headers, in the dialect of the router that answers: on every answer, errors too. */
    limitHeaders: Record<string, string> | undefined;
  };
};
export type AppContext = Context<AppEnv>;
