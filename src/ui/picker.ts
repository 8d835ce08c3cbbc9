import { Hono } from 'hono';
import type { AppEnv } from '../http/context.js';

/**
 * A package picker: one page with no build step, showing a frontend developer how to use the service.
 * Signed out it lists public packages; "Sign in" goes through `/auth/login`; signed in it shows the user's
 * organizations and their packages by group (`group_by=group`), filters by CPU and memory, shows how
 * complete each list is (`X-Packages-Detail`), revalidates with `If-None-Match`, and signs out. Every
 * call it makes sends `X-CSRF: 1`, which a signed-in request needs; it never holds a key or a token.
 */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Package picker · katapult-bff</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1d2433}
header{display:flex;justify-content:space-between;align-items:center;gap:1rem}
h2{margin:1.5rem 0 .25rem}h3{margin:.75rem 0 .25rem;font-size:1rem;color:#4a5568}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.2rem .5rem;border-bottom:1px solid #e2e8f0}
.muted{color:#718096;font-size:.85rem}label{margin-right:1rem}button,a.button{font:inherit;padding:.3rem .8rem}
</style></head>
<body>
<header><h1>Package picker</h1><div id="who"></div></header>
<p><label>CPU cores at least <input id="cpu" type="number" min="0" value="0" size="4"></label>
<label>Memory (GB) at least <input id="mem" type="number" min="0" value="0" size="4"></label></p>
<main id="lists"></main>
<script>
// Answers kept for this tab (url -> { etag, body }), revalidated with If-None-Match: an unchanged list is a 304.
const held = { get: (url) => JSON.parse(sessionStorage.getItem(url) ?? 'null'), set: (url, v) => sessionStorage.setItem(url, JSON.stringify(v)) };
async function get(url) {
  const headers = { 'X-CSRF': '1' };
  const kept = held.get(url);
  if (kept) headers['If-None-Match'] = kept.etag;
  const res = await fetch(url, { headers, cache: 'no-store' });
  if (res.status === 304) return { ...kept, detail: res.headers.get('X-Packages-Detail') ?? kept.detail };
  const body = await res.json();
  const got = { etag: res.headers.get('ETag'), body, detail: res.headers.get('X-Packages-Detail') };
  if (res.ok) held.set(url, got);
  return got;
}
function text(tag, content, cls) { const e = document.createElement(tag); e.textContent = content; if (cls) e.className = cls; return e; }
function render(title, answer) {
  const section = document.createElement('section');
  section.append(text('h2', title), text('p', answer.detail ? 'details known: ' + answer.detail : '', 'muted'));
  if (!answer.body.groups) { section.append(text('p', answer.body.error ? answer.body.error.message : 'nothing')); return section; }
  for (const group of answer.body.groups) {
    section.append(text('h3', group.name ?? 'group not known yet'));
    const table = document.createElement('table');
    table.append(...group.packages.map((p) => { const tr = document.createElement('tr'); tr.append(text('td', p.name), text('td', p.cpuCores + ' vCPU'), text('td', p.memoryGb + ' GB'), text('td', p.storageGb + ' GB disk'), text('td', p.privacy)); return tr; }));
    section.append(table);
  }
  return section;
}
async function show() {
  const session = await fetch('/auth/session', { cache: 'no-store' }).then((r) => (r.ok ? r.json() : null), () => null);
  const who = document.getElementById('who');
  who.replaceChildren();
  if (session) {
    who.append(text('span', 'Signed in as ' + (session.name ?? session.subject) + ' · '));
    const out = text('button', 'Sign out'); out.id = 'signout';
    out.onclick = async () => { await fetch('/auth/logout', { method: 'POST', headers: { 'X-CSRF': '1' } }); sessionStorage.clear(); location.reload(); };
    who.append(out);
  } else {
    const a = text('a', 'Sign in', 'button'); a.id = 'signin'; a.href = '/auth/login?returnTo=/'; who.append(a);
  }
  const q = 'group_by=group&min_cpu_cores=' + Number(document.getElementById('cpu').value) + '&min_memory_gb=' + Number(document.getElementById('mem').value);
  const scopes = [['Public packages', '/packages?' + q], ...(session ? session.organizations.map((o) => [o + "'s packages", '/packages?organization=' + encodeURIComponent(o) + '&' + q]) : [])];
  const answers = await Promise.all(scopes.map(async ([title, url]) => [title, await get(url)]));
  document.getElementById('lists').replaceChildren(...answers.map(([title, answer]) => render(title, answer)));
  // Lists fill in as the service fetches their details: ask again while one is incomplete (a 304 once it is not).
  const incomplete = answers.some(([, a]) => a.detail && a.detail.split('/')[0] !== a.detail.split('/')[1]);
  if (incomplete && ++rounds < 30) setTimeout(show, 1000);
}
let rounds = 0;
for (const id of ['cpu', 'mem']) document.getElementById(id).addEventListener('change', show);
show();
</script>
</body></html>`;

/** `GET /`: the picker. */
export function pickerRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/', (c) => {
    c.header('cache-control', 'no-cache');
    // The page's own script only: no other source may run here.
    c.header('content-security-policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    return c.html(PAGE);
  });
  return routes;
}
