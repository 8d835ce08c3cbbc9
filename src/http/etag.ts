/**
 * `If-None-Match` evaluation for GET (RFC 9110 §13.1.2): `*` matches any current representation,
 * otherwise any listed tag matches by weak comparison (opaque tags equal, `W/` ignored).
 */
export function ifNoneMatchMatches(header: string | undefined | null, etag: string): boolean {
  if (!header) return false;
  const wanted = opaque(etag);
  for (const raw of header.split(',')) {
    const tag = raw.trim();
    if (tag === '*' || opaque(tag) === wanted) return true;
  }
  return false;
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}
