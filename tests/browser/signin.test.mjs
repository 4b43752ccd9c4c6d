// Signing in and out: the sign-in view, deep links through it, where the token goes
// (never to web storage), a later 401, axe-core on the sign-in view.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useSuite, newPage, openAs, signInUI, axeCheck, screenshot, PHONE, endSuite } from './harness.mjs';

const env = useSuite();

async function storageDump(page) {
  return page.evaluate(() => {
    const dump = (s) => {
      const o = {};
      for (let i = 0; i < s.length; i++) o[s.key(i)] = s.getItem(s.key(i));
      return o;
    };
    return { local: dump(localStorage), session: dump(sessionStorage), cookie: document.cookie };
  });
}

describe('sign-in and sign-out', () => {
  test('sign in through a deep link: wrong token shows the API message, right one lands on the link', async () => {
    const s = env.server;
    const id = await s.newIncident({ summary: 'deep linked incident', severity: 'sev2' });
    const { context, page, rec } = await newPage(env.browser, s);
    try {
      rec.allow({ method: 'GET', path: '/api/session', status: 401 }); // before sign-in
      rec.allow({ method: 'POST', path: '/api/session', status: 401 }); // the wrong token, on purpose
      await rec.goto(`/incidents/${id}`);
      await page.getByRole('heading', { level: 1, name: 'Sign in to intervene' }).waitFor();
      await page.waitForURL((u) => u.pathname === '/signin');
      const url = new URL(page.url());
      assert.equal(url.searchParams.get('next'), `/incidents/${id}`, `next= of ${page.url()}`);
      assert.match(await page.title(), /sign in/i, 'the <title> names the sign-in view');

      const token = page.getByLabel('Token');
      assert.equal(await token.getAttribute('type'), 'password');
      assert.equal(await token.getAttribute('autocomplete'), 'off');
      await axeCheck(page, 'the sign-in view');

      // a wrong token: the API's own message, in an alert
      const bad = await s.request('POST', '/api/session', { token: 'not-a-token' }, { token: null });
      assert.equal(bad.status, 401);
      await signInUI(page, 'not-a-token');
      const alert = page.getByRole('alert');
      await alert.filter({ hasText: bad.body.error.message }).waitFor({ timeout: 5000 });
      assert.equal(new URL(page.url()).pathname, '/signin');

      // the right one (a responder's): back to the deep link
      await token.fill('');
      await signInUI(page, s.users.responder.token);
      await page.waitForURL((u) => u.pathname === `/incidents/${id}`);
      await page.getByRole('heading', { level: 1, name: 'deep linked incident' }).waitFor();
      await page.getByTestId('whoami').filter({ hasText: 'carol (responder)' }).waitFor();
      await page.getByTestId('live').and(page.locator('[data-state="live"]')).waitFor();

      // the token is in no web storage and no script-readable cookie
      const st = await storageDump(page);
      const all = JSON.stringify(st);
      assert.ok(!all.includes(s.users.responder.token), `the token is stored by the page: ${all}`);
      assert.ok(!/intervene_session/.test(st.cookie), `the session cookie is readable by scripts: ${st.cookie}`);
      const cookies = await context.cookies();
      const sess = cookies.find((c) => c.name === 'intervene_session');
      assert.ok(sess, `no session cookie: ${JSON.stringify(cookies)}`);
      assert.equal(sess.httpOnly, true);
      assert.equal(sess.sameSite, 'Strict');
      assert.ok(!cookies.some((c) => c.value.includes(s.users.responder.token)), 'the token is in a cookie');
      await rec.assertClean();
    } finally {
      await context.close();
    }
  });

  test('a signed-in load is named by the page itself: the first view asks no GET /api/session', async () => {
    const { page, rec, close } = await openAs(env, 'approver', '/');
    try {
      await page.locator('[data-testid="incident-row"], [data-testid="empty"]:visible').first().waitFor();
      await page.getByTestId('whoami').filter({ hasText: 'bob (approver)' }).waitFor();
      await rec.reload();
      await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
      await page.getByTestId('whoami').filter({ hasText: 'bob (approver)' }).waitFor();
      const asked = rec.requests.filter((r) => new URL(r.url).pathname === '/api/session');
      assert.deepEqual(asked.map((r) => r.method), [], 'the page asked for the session it was served with');
      // the index's session element says who is signed in
      const meta = await page.locator('meta[name="intervene-session"]').getAttribute('content');
      assert.deepEqual(JSON.parse(meta), { actor: 'bob', role: 'approver' });
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('sign-in view at 390x844 has no horizontal scrolling and signing in goes to the list', async () => {
    const { context, page, rec } = await newPage(env.browser, env.server, { viewport: PHONE });
    try {
      rec.allow({ method: 'GET', path: '/api/session', status: 401 });
      await rec.goto('/');
      await page.getByRole('heading', { level: 1, name: 'Sign in to intervene' }).waitFor();
      const w = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
      assert.ok(w[0] <= w[1] + 1, `the sign-in view scrolls horizontally at 390 px: ${w}`);
      await screenshot(page, 'signin');
      await signInUI(page, env.server.users.viewer.token);
      await page.waitForURL((u) => u.pathname === '/' || u.pathname === '/incidents');
      await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
      await page.getByTestId('whoami').filter({ hasText: 'victor (viewer)' }).waitFor();
      await rec.assertClean();
    } finally {
      await context.close();
    }
  });

  test('sign out ends the session and shows the sign-in view', async () => {
    const { context, page, rec } = await openAs(env, 'viewer', '/');
    try {
      await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
      rec.allow({ method: 'GET', path: '/api/session', status: 401 }); // the reload after signing out
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { level: 1, name: 'Sign in to intervene' }).waitFor();
      assert.equal(new URL(page.url()).pathname, '/signin');
      // the server ended the session: the cookie no longer signs anyone in
      const r = await context.request.get(env.server.url('/api/session'));
      assert.equal(r.status(), 401, 'the session still works after signing out');
      assert.ok(!(await context.cookies()).some((c) => c.name === 'intervene_session' && c.value), 'the session cookie is still set');
      // the header of a signed-in view is gone
      assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);
      // and a reload stays signed out
      await rec.reload();
      await page.getByRole('heading', { level: 1, name: 'Sign in to intervene' }).waitFor();
      await rec.assertClean();
    } finally {
      await context.close();
    }
  });

  test('a 401 later on (the token was revoked) goes back to the sign-in view', async () => {
    const s = env.server;
    const tok = await s.createToken('short-lived', 'viewer');
    const { context, page, rec } = await newPage(env.browser, s);
    try {
      const r = await context.request.post(s.url('/api/session'), { data: { token: tok } });
      assert.equal(r.status(), 200);
      await rec.goto('/');
      await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
      await s.api('DELETE', '/api/tokens/short-lived', undefined, { expect: 200 });
      // every API call from now on is a 401 — the expected ones, not failures
      rec.allow({ method: 'GET', path: /^\/api\//, status: 401 });
      rec.allow({ path: '/api/sse/events', failure: /./ });
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Silences' }).click();
      await page.getByRole('heading', { level: 1, name: 'Sign in to intervene' }).waitFor({ timeout: 5000 });
      assert.equal(new URL(page.url()).pathname, '/signin');
      assert.equal(new URL(page.url()).searchParams.get('next'), '/silences');
      await rec.assertClean();
    } finally {
      await context.close();
    }
  });

  endSuite(env);
});
