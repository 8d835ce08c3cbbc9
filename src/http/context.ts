import type { Context } from 'hono';

/** What middleware hands on to handlers and to the request log line. */
export type AppEnv = {
  Variables: {
    requestId: string;
  };
};
export type AppContext = Context<AppEnv>;
