import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIdentityProvider, type IdentityProvider } from '../src/simulator/identity-provider.js';
import { launchChromium } from './support/chromium.js';
import { freePort } from './support/ports.js';
import { startStack, type Stack } from './support/stack.js';

/** Where the test writes what it saw (ignored by git). */
const OUTPUT = 'test/output';

/** The package picker in a real Chromium, signing in at a real OpenID Provider's own login form. */
describe('package picker', () => {
  let idp: IdentityProvider;
  let stack: Stack;
  let browser: Browser;
  let site = '';
  beforeAll(async () => {
    const port = await freePort();
    site = `http://127.0.0.1:${port}`;
    idp = await startIdentityProvider({}, { clientId: 'katapult-bff', clientSecret: 'bff-secret-0123456789abcdef', redirectUri: `${site}/auth/callback`, users: { ada: { name: 'Ada Lovelace', orgs: ['acme'] } } });
    stack = await startStack({
      ports: [port],
      env: {
        DEMO_UI: 'true',
        CACHE_LIST_DETAILS: 'true',
        OIDC_ISSUER: idp.issuer,
        OIDC_CLIENT_ID: 'katapult-bff',
        OIDC_CLIENT_SECRET: 'bff-secret-0123456789abcdef',
        OIDC_REDIRECT_URL: `${site}/auth/callback`,
      },
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await idp?.close();
  });

  it("lists public packages, signs in through the provider, shows acme's private ones, revalidates with a 304 on reload, and signs out", async () => {
    const tab = await browser.newPage();
    // Script errors on any page of the journey. (Chromium also reports each non-2xx load, such as the
    // expected 401 of /auth/session when signed out, and the provider's own page reaching for the network.)
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(e.message));
    tab.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text()));
    const statuses: number[] = [];
    const codings = new Set<string>();
    tab.on('response', async (r) => {
      if (!r.url().includes('/packages?')) return;
      statuses.push(r.status());
      if (r.status() === 200) codings.add((await r.allHeaders())['content-encoding'] ?? 'identity');
    });

    await tab.goto(`${site}/`);
    await tab.getByText('Public packages').waitFor();
    await tab.getByText('ROCK-3').first().waitFor();
    expect(await tab.getByText('ACME-DEDI-64').count()).toBe(0);

    await tab.click('#signin');
    await tab.fill('input[name=login]', 'ada');
    await tab.fill('input[name=password]', 'any password');
    await Promise.all([tab.waitForURL(`${site}/`), tab.click('button[type=submit]')]);
    await tab.getByText("acme's packages").waitFor();
    await tab.getByText('ACME-DEDI-64').waitFor();
    await tab.getByText('Signed in as Ada Lovelace').waitFor();
    // The browser holds a session cookie and nothing else of the sign-in: no token in reach of a script.
    expect(await tab.evaluate('document.cookie')).toBe('');

    statuses.length = 0;
    await tab.reload();
    await tab.getByText('ACME-DEDI-64').waitFor();
    expect(statuses).toContain(304);
    // Chromium asks for br (even over http): the lists came compressed, as the cache keeps them.
    expect(codings).toContain('br');
    mkdirSync(OUTPUT, { recursive: true });
    await tab.screenshot({ path: `${OUTPUT}/picker-signed-in.png`, fullPage: true });

    await tab.click('#signout');
    await tab.getByText('Sign in').waitFor();
    await tab.getByText('ROCK-3').first().waitFor();
    expect(await tab.getByText('ACME-DEDI-64').count()).toBe(0);
    expect(errors).toEqual([]);
    await tab.close();
  });
});
