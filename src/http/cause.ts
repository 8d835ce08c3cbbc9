import type { IncomingMessage } from 'node:http';
import { chargedTo, type ConsumerCause } from '../domain/cause.js';
import type { Clock } from '../domain/clock.js';
import type { AppContext } from './context.js';

/** An address as a socket or a proxy reports it: IPv4, IPv6 (possibly IPv4-mapped). Anything else is ignored. */
const ADDRESS = /^[0-9A-Fa-f:.]{2,45}$/;

/**
 * Who pays for the upstream calls a request causes, and how long it waits for them: the consumer's key
 * by name, or, for an anonymous request, its client address; its deadline is `timeoutMs` after it
 * arrives at the route (KATAPULT_TIMEOUT_MS bounds the request's whole wait on upstream). Behind
 * `trustedHops` proxies (an ingress, a load balancer) the client is the address the outermost trusted
 * proxy saw: `X-Forwarded-For` entries are appended by each proxy, so the entry `trustedHops` from the
 * right. Entries further left are the client's own word and not trusted.
 */
export function requestCause(opts: { trustProxyHops: number; katapultTimeoutMs: number; clock: Clock }): (c: AppContext) => ConsumerCause {
  return (c) => {
    const consumer = c.get('consumer');
    const chargeTo = consumer ? `key:${consumer.name}` : `addr:${clientAddress(c, opts.trustProxyHops)}`;
    return chargedTo(chargeTo, opts.clock.now() + opts.katapultTimeoutMs);
  };
}

/** The caller's address, as the outermost of `trustedHops` proxies saw it (the connection's peer without any). */
export function clientAddress(c: AppContext, trustedHops: number): string {
  const peer = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress ?? 'unknown';
  if (trustedHops === 0) return peer;
  const chain = (c.req.header('x-forwarded-for') ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  const client = chain[Math.max(0, chain.length - trustedHops)];
  return client && ADDRESS.test(client) ? client : peer;
}
