import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { ifNoneMatchMatches } from './etag.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

/** The content codings this service sends (RFC 9110 §8.4.1). */
export type Coding = 'br' | 'gzip' | 'identity';
export type Compressed = Exclude<Coding, 'identity'>;

/** Where compressed bytes are kept: L1, under its byte bound (`MemoryStore.encoded`). */
export interface EncodedStore {
  encoded(etag: string, coding: Compressed, make: () => Buffer): Buffer;
}

export interface CompressionOptions {
  /** Answers smaller than this go out as they are: below about a kilobyte, a coding saves less than its headers cost. */
  minBytes: number;
  /** Brotli's quality (0–11); the default is weighed in `npm run bench` ("Compression: bytes against CPU"). */
  brotliQuality: number;
}

/** How a representation leaves: its coding, the ETag of that coding, and its bytes (null for a 304). */
export interface Representation {
  status: 200 | 304;
  headers: Record<string, string>;
  body: Buffer | string | null;
}

/**
 * Compressed answers, made once per representation. An answer is identified by its ETag (a hash of its
 * identity bytes), so the `br` or `gzip` bytes made for one request are kept in L1 beside the entries and
 * sent as they are to every later request that accepts that coding, until L1 lets them go. Each coding is
 * a representation of its own with an ETag of its own (RFC 9110 §8.8.3), and `If-None-Match` is compared
 * with the ETag of the coding this request would be sent; a 304 compresses nothing.
 */
export class Compressor {
  constructor(
    private readonly store: EncodedStore,
    private readonly opts: CompressionOptions,
  ) {}

  /**
   * The answer of `body` (identity ETag `etag`, of content type `type`) to a request with these
   * `Accept-Encoding` and `If-None-Match` headers, for every cached answer on every path. `headers` gets
   * the coding's ETag, and for a 200 `Content-Type` and `Content-Encoding`; the caller adds `Vary` (the
   * caching headers always name `Accept-Encoding`).
   */
  represent(
    body: string | Buffer,
    etag: string,
    headers: Record<string, string>,
    acceptEncoding: string | undefined,
    ifNoneMatch: string | undefined | null,
    type = JSON_TYPE,
  ): Representation {
    const coding = this.codingOf(body.length, acceptEncoding);
    const tag = codedEtag(etag, coding);
    headers.etag = tag;
    if (ifNoneMatchMatches(ifNoneMatch, tag)) return { status: 304, headers, body: null };
    headers['content-type'] = type;
    if (coding === 'identity') return { status: 200, headers, body };
    headers['content-encoding'] = coding;
    return { status: 200, headers, body: this.bytes(body, etag, coding) };
  }

  /** The bytes of `body` (identity ETag `etag`) in `coding`: L1 keeps them, or they are made now and kept. */
  bytes(body: string | Buffer, etag: string, coding: Compressed): Buffer {
    return this.store.encoded(etag, coding, () => this.compress(body, coding));
  }

  /** The coding an answer of `size` is sent in to a request with this `Accept-Encoding`. */
  codingOf(size: number, acceptEncoding: string | undefined): Coding {
    return size >= this.opts.minBytes ? acceptedCoding(acceptEncoding) : 'identity';
  }

  compress(body: string | Buffer, coding: Compressed): Buffer {
    if (coding === 'gzip') return gzipSync(body);
    const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    return brotliCompressSync(body, {
      params: { [constants.BROTLI_PARAM_QUALITY]: this.opts.brotliQuality, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT, [constants.BROTLI_PARAM_SIZE_HINT]: size },
    });
  }
}

/** The ETag of one coding of a representation: the identity's, or the identity's opaque tag with the coding named. */
export function codedEtag(etag: string, coding: Coding): string {
  return coding === 'identity' ? etag : `${etag.slice(0, -1)}-${coding}"`;
}

/** Clients send a handful of distinct `Accept-Encoding` values: each is parsed once (bounded). */
const decided = new Map<string, Coding>();
const DECIDED_MAX = 256;
/** Below the smallest q-value a header can give (0.001). */
const UNWEIGHED_IDENTITY = 0.0001;
/** Past this many codings a header is not read further: no client lists more than a few. */
const CODINGS_READ_MAX = 16;

/**
 * The coding to send for an `Accept-Encoding` header (RFC 9110 §12.5.3): the acceptable one with the
 * highest q-value, `br` before `gzip` before `identity` when they tie; `identity` when the header is
 * absent or names nothing this service can send (rather than 406: every client reads identity). Identity
 * that the header leaves unweighed loses to any coding it accepts, as nginx's `gzip` decides.
 */
export function acceptedCoding(header: string | undefined): Coding {
  if (!header) return 'identity';
  let coding = decided.get(header);
  if (coding === undefined) {
    coding = parseAcceptEncoding(header);
    if (decided.size >= DECIDED_MAX) decided.clear();
    decided.set(header, coding);
  }
  return coding;
}

function parseAcceptEncoding(header: string): Coding {
  const q: Record<string, number> = {};
  for (const part of header.split(',', CODINGS_READ_MAX)) {
    const [name, ...params] = part.split(';');
    const token = name!.trim().toLowerCase();
    if (!token) continue;
    let weight = 1;
    for (const param of params) {
      const [key, value] = param.split('=');
      if (key?.trim().toLowerCase() !== 'q') continue;
      // A q-value that does not parse accepts nothing: send only what was clearly asked for.
      weight = /^\s*(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\s*$/.test(value ?? '') ? Number(value) : 0;
    }
    q[token === 'x-gzip' ? 'gzip' : token] = weight;
  }
  const star = q['*'];
  // Identity is acceptable unless excluded, but only as the last choice when the header does not weigh it.
  const weightOf = (coding: Coding) => q[coding] ?? star ?? (coding === 'identity' ? UNWEIGHED_IDENTITY : 0);
  let best: Coding = 'identity';
  let bestQ = 0;
  for (const coding of ['br', 'gzip', 'identity'] as const) {
    const w = weightOf(coding);
    if (w > bestQ) [best, bestQ] = [coding, w];
  }
  return best;
}
