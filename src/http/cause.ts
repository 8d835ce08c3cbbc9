import type { IncomingMessage } from 'node:http';
import { chargedTo, type Cause } from '../domain/cause.js';
import type { AppContext } from './context.js';

/** An address as a socket or a proxy reports it: IPv4, IPv6 (possibly IPv4-mapped). Anything else is ignored. */
const ADDRESS = /^[0-9A-Fa-f:.]{2,45}$/;

/**
 * Who pays for the upstream calls this request causes: the consumer's key by name, or, for an anonymous
 * request, its client address. Behind `trustedHops` proxies (an ingress, a load balancer) the client is
 * the address the outermost trusted proxy saw: `X-Forwarded-For` entries are appended by each proxy, so
 * the entry `trustedHops` from the right. Entries further left are the client's own word and not trusted.
 */
export function causeOf(c: AppContext, trustedHops: number): Cause {
  const consumer = c.get('consumer');
  return chargedTo(consumer ? `key:${consumer.name}` : `addr:${clientAddress(c, trustedHops)}`);
}

function clientAddress(c: AppContext, trustedHops: number): string {
  const peer = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress ?? 'unknown';
  if (trustedHops === 0) return peer;
  const chain = (c.req.header('x-forwarded-for') ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  const client = chain[Math.max(0, chain.length - trustedHops)];
  return client && ADDRESS.test(client) ? client : peer;
}
