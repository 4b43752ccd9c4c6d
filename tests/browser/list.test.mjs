// The incident list: live updates without reload, counts, filters written to and read
// from the URL, paging, axe-core, screenshots at desktop and phone sizes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useSuite, openAs, rowOf, markWindow, axeCheck, screenshot, assertNoHorizontalScroll, unique, waitFor, DESKTOP, PHONE, endSuite } from './harness.mjs';

const env = useSuite();

async function countOf(page, which) {
  const t = await page.getByTestId(`count-${which}`).locator('strong').textContent();
  assert.match(t.trim(), /^\d+$/, `count-${which} is not a number: ${t}`);
  return Number(t.trim());
}

async function apiTotal(q) {
  return (await env.server.get(`/api/incidents?${q}&per_page=1`)).total;
}

async function rowIds(page) {
  return page.locator('[data-testid="incident-row"]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-incident-id'))));
}

// The rows shown equal the API's first page for the same query.
async function expectRowsLike(page, query, msg) {
  const want = (await env.server.get(`/api/incidents?${query}${query ? '&' : ''}per_page=50`)).incidents.map((i) => i.id);
  await waitFor(async () => JSON.stringify(await rowIds(page)) === JSON.stringify(want), { timeout: 5000, msg: `${msg}: rows ${JSON.stringify(want)} (API ?${query})` });
  if (want.length === 0) await page.getByTestId('empty').filter({ hasText: 'No incidents match these filters.' }).waitFor();
  return want;
}

describe('incident list', () => {
  // First, so that the screenshots show only its own, realistic incidents.
  test('the list passes axe-core (WCAG 2 A/AA) and is screenshotted at 1280x800 and 390x844', async () => {
    const s = env.server;
    await s.signals([
      { kind: 'invariant', key: unique('inv'), summary: 'No PII in output failed for inbox.triage', severity: 'sev1' },
      { kind: 'budget', key: unique('bud'), summary: 'search-agent p95 latency 2140 ms over budget 1600 ms', severity: 'sev2' },
      { kind: 'alert', key: unique('al'), summary: 'CPU above 90% on db-1', severity: 'sev3' },
    ]);
    const id = await s.newIncident({ summary: 'Nightly dbt run: 3 models failed in analytics', severity: 'sev2' });
    await s.transition(id, 'acknowledge');
    await s.signals([
      { kind: 'planner', key: unique('plan'), summary: 'planner canary p2: success rate 91% below 97%', severity: 'sev2' },
      { kind: 'budget', key: unique('bud'), summary: 'support-agent cost per run $0.41 over budget $0.30', severity: 'sev3' },
      { kind: 'invariant', key: unique('inv'), summary: 'Refund amounts must match the order total (inv_refund_total)', severity: 'sev1' },
    ]);
    for (const vp of [DESKTOP, PHONE]) {
      const { page, rec, close } = await openAs(env, 'responder', '/', { viewport: vp });
      try {
        await page.locator('[data-testid="incident-row"]').first().waitFor();
        await page.getByTestId('live').and(page.locator('[data-state="live"]')).waitFor();
        await axeCheck(page, `the incident list at ${vp.width}x${vp.height}`);
        await assertNoHorizontalScroll(page, `the list at ${vp.width}x${vp.height}`);
        await screenshot(page, 'list');
        await rec.assertClean();
      } finally {
        await close();
      }
    }
  });

  test('a signal posted through the API appears without reload, with the counts', async () => {
    const s = env.server;
    await s.newIncident({ summary: 'already there', severity: 'sev3' });
    const { page, rec, close } = await openAs(env, 'responder', '/');
    try {
      await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
      await page.getByTestId('live').and(page.locator('[data-state="live"]')).filter({ hasText: 'Live' }).waitFor();
      await page.locator('[data-testid="incident-row"]').first().waitFor();
      assert.match(await page.title(), /incidents/i, 'the <title> names the view');
      await page.getByRole('table', { name: 'Incidents' }).waitFor();
      for (const [role, name] of [['banner', undefined], ['navigation', 'Main'], ['main', undefined]]) {
        assert.equal(await page.getByRole(role, name ? { name } : {}).count(), 1, `one ${role} landmark${name ? ` "${name}"` : ''}`);
      }
      assert.equal(await page.locator('h1').count(), 1, 'one h1');
      const check = await markWindow(page);
      const sev1 = await countOf(page, 'sev1');
      const open = await countOf(page, 'open');
      assert.equal(sev1, await apiTotal('status=active&severity=sev1'));
      assert.equal(open, await apiTotal('status=open'));

      const summary = `disk full on ${unique('db')}`;
      const r = await s.signal({ kind: 'invariant', key: unique('inv'), summary, severity: 'sev1' });
      assert.equal(r.outcome, 'created');
      const row = rowOf(page, r.incident_id);
      await row.waitFor({ timeout: 3000 });
      await row.getByText(summary).waitFor();
      const link = row.getByRole('link', { name: summary });
      assert.equal(await link.getAttribute('href'), `/incidents/${r.incident_id}`);
      assert.equal((await row.locator('.badge.sev-sev1').textContent()).trim(), 'sev1');
      assert.equal((await row.locator('.badge.st-open').textContent()).trim(), 'open');
      await row.getByText('invariant', { exact: true }).waitFor();
      const t = row.locator('time');
      assert.ok(await t.getAttribute('datetime'), 'the created time has a datetime');
      assert.ok(await t.getAttribute('title'), 'the created time has the absolute time in its title');
      // newest first: the new one is the first row
      assert.equal((await rowIds(page))[0], r.incident_id);
      await waitFor(async () => (await countOf(page, 'sev1')) === sev1 + 1, { msg: 'count-sev1 to go up by one' });
      await waitFor(async () => (await countOf(page, 'open')) === open + 1, { msg: 'count-open to go up by one' });

      // an update of another incident shows too (status badge)
      await s.transition(r.incident_id, 'acknowledge');
      await row.locator('.badge.st-acknowledged').waitFor({ timeout: 3000 });
      await waitFor(async () => (await countOf(page, 'open')) === open, { msg: 'count-open to go back down' });
      assert.equal(await countOf(page, 'sev1'), sev1 + 1, 'an acknowledged sev1 is still active');
      await check();
      assert.equal(rec.sseRequests().length, 1, 'exactly one event stream per tab');
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('filters apply at once, are written to the URL and restored from it', async () => {
    const s = env.server;
    const tag = unique('flt');
    const mk = (f) => s.newIncident({ key: unique(f.kind || 'manual'), ...f, summary: `${tag} ${f.summary}` });
    const a = await mk({ kind: 'invariant', severity: 'sev1', summary: 'alpha invariant' });
    const b = await mk({ kind: 'budget', severity: 'sev2', summary: 'beta budget' });
    const c = await mk({ kind: 'budget', severity: 'sev2', summary: 'gamma budget' });
    const d = await mk({ kind: 'planner', severity: 'sev4', summary: 'delta planner' });
    await s.transition(c, 'acknowledge');
    await s.transition(c, 'resolve');
    void a; // only in the unfiltered lists
    const { page, rec, close } = await openAs(env, 'viewer', '/');
    try {
      const check = await markWindow(page);
      const form = page.getByRole('search', { name: 'Filter incidents' });
      const status = form.getByLabel('Status');
      const severity = form.getByLabel('Severity');
      const kind = form.getByLabel('Kind');
      const search = form.getByLabel('Search');
      assert.equal(await status.inputValue(), 'active', 'the default status is active');
      assert.equal(await severity.inputValue(), '');
      assert.equal(await kind.inputValue(), '');
      const statusValues = await status.locator('option').evaluateAll((o) => o.map((x) => x.value));
      assert.deepEqual([...statusValues].sort(), ['', 'acknowledged', 'active', 'closed', 'mitigated', 'open', 'resolved'].sort());
      await expectRowsLike(page, 'status=active', 'default filter');

      await search.fill(tag);
      await expectRowsLike(page, `status=active&q=${tag}`, 'search');
      await waitFor(() => new URL(page.url()).searchParams.get('q') === tag, { msg: 'q= in the URL' });

      await severity.selectOption('sev2');
      await expectRowsLike(page, `status=active&severity=sev2&q=${tag}`, 'severity sev2'); // b only (c is resolved)
      assert.equal(new URL(page.url()).searchParams.get('severity'), 'sev2');
      assert.equal(new URL(page.url()).searchParams.get('status'), null, 'the default status is not written to the URL');

      await status.selectOption('resolved');
      const ids = await expectRowsLike(page, `status=resolved&severity=sev2&q=${tag}`, 'resolved sev2');
      assert.deepEqual(ids, [c]);
      assert.equal(new URL(page.url()).searchParams.get('status'), 'resolved');

      await status.selectOption('');
      await severity.selectOption('');
      await kind.selectOption('budget');
      assert.deepEqual(await expectRowsLike(page, `kind=budget&q=${tag}`, 'any status, budget'), [c, b]);

      await kind.selectOption('alert');
      await expectRowsLike(page, `kind=alert&q=${tag}`, 'nothing matches');

      await check(); // every filter applied without a page load
      // the URL restores the filters
      const u = `/?severity=sev4&kind=planner&q=${tag}`;
      await rec.goto(u);
      await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
      assert.equal(await status.inputValue(), 'active');
      assert.equal(await severity.inputValue(), 'sev4');
      assert.equal(await kind.inputValue(), 'planner');
      assert.equal(await search.inputValue(), tag);
      assert.deepEqual(await expectRowsLike(page, `status=active&severity=sev4&kind=planner&q=${tag}`, 'restored'), [d]);
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('paging: 50 per page, Previous/Next disabled at the ends, page in the URL', async () => {
    const s = env.server;
    const tag = unique('pg');
    const batch = [];
    for (let i = 0; i < 57; i++) batch.push({ kind: 'manual', key: `${tag}-${i}`, summary: `${tag} number ${i}`, severity: 'sev4' });
    await s.signals(batch);
    const { page, rec, close } = await openAs(env, 'viewer', `/?q=${tag}`);
    try {
      const info = page.getByTestId('pager-info');
      await info.filter({ hasText: 'Page 1 of 2 · 57 incidents' }).waitFor();
      const prev = page.getByRole('button', { name: 'Previous page' });
      const next = page.getByRole('button', { name: 'Next page' });
      assert.equal(await prev.isDisabled(), true);
      assert.equal(await next.isDisabled(), false);
      assert.equal((await rowIds(page)).length, 50);
      await next.click();
      await info.filter({ hasText: 'Page 2 of 2 · 57 incidents' }).waitFor();
      const want = (await s.get(`/api/incidents?status=active&q=${tag}&page=2&per_page=50`)).incidents.map((i) => i.id);
      await waitFor(async () => JSON.stringify(await rowIds(page)) === JSON.stringify(want), { msg: 'page 2 rows' });
      assert.equal(new URL(page.url()).searchParams.get('page'), '2');
      assert.equal(await next.isDisabled(), true);
      assert.equal(await prev.isDisabled(), false);
      await prev.click();
      await info.filter({ hasText: 'Page 1 of 2 · 57 incidents' }).waitFor();
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('client-side navigation: list → detail → back, one event stream, focus on the h1', async () => {
    const s = env.server;
    const summary = `navigate to me ${unique('n')}`;
    const id = await s.newIncident({ summary, severity: 'sev2' });
    const { page, rec, close } = await openAs(env, 'viewer', '/');
    try {
      const check = await markWindow(page);
      await rowOf(page, id).getByRole('link', { name: summary }).click();
      await page.waitForURL((u) => u.pathname === `/incidents/${id}`);
      await page.getByRole('heading', { level: 1, name: summary }).waitFor();
      await waitFor(() => page.evaluate(() => document.activeElement && document.activeElement.tagName === 'H1'), { msg: 'focus on the detail view h1' });
      await page.goBack();
      await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
      await rowOf(page, id).waitFor();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Silences' }).click();
      await page.getByRole('heading', { level: 1, name: 'Silences' }).waitFor();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Incidents' }).click();
      await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
      await check(); // all of it without a page load
      assert.equal(rec.sseRequests().length, 1, 'exactly one event stream per tab, across views');
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('a storm of events asks for the counts at most once a second', async () => {
    const s = env.server;
    const { page, rec, close } = await openAs(env, 'viewer', '/');
    try {
      await page.getByTestId('live').and(page.locator('[data-state="live"]')).waitFor();
      await page.getByTestId('count-open').locator('strong').filter({ hasText: /^\d+$/ }).waitFor();
      const isCount = (r) => { const u = new URL(r.url); return u.pathname === '/api/incidents' && u.searchParams.get('per_page') === '1'; };
      const before = rec.requests.filter(isCount).length;
      const t0 = Date.now();
      // 3 s of new incidents, one every ~100 ms: each refreshes the page
      let lastId = 0;
      let n = 0;
      while (Date.now() - t0 < 3000) {
        n++;
        lastId = await s.newIncident({ summary: `storm ${unique('s')}`, severity: 'sev3' });
        await new Promise((r) => setTimeout(r, 100));
      }
      await rowOf(page, lastId).waitFor({ timeout: 3000 });
      const open = (await s.api('GET', '/api/incidents?status=open&per_page=1')).total;
      await page.getByTestId('count-open').locator('strong').filter({ hasText: new RegExp(`^${open}$`) }).waitFor({ timeout: 3000 });
      const rounds = (rec.requests.filter(isCount).length - before) / 3; // three counts a round
      const secs = (Date.now() - t0) / 1000;
      console.log(`count rounds during a ${secs.toFixed(1)} s storm of ${n} incidents: ${rounds}`);
      assert.ok(rounds >= 2, `the counts did not follow the storm (${rounds} rounds)`);
      assert.ok(rounds <= Math.ceil(secs) + 1, `${rounds} rounds of counts in ${secs.toFixed(1)} s: more than one a second`);
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('notifications for new sev1/sev2: permission asked only when ticked, one per such incident', async () => {
    const s = env.server;
    const { page, rec, close } = await openAs(env, 'viewer', '/', { waitFor: false });
    try {
      // (set up before the page loads — the goto in openAs happened already, so reload)
      await page.addInitScript(() => {
        window.__notes = [];
        window.__asked = 0;
        let perm = 'default';
        class FakeNotification {
          constructor(title, opts) {
            window.__notes.push({ title, body: opts && opts.body });
          }
          static get permission() {
            return perm;
          }
          static requestPermission() {
            window.__asked++;
            perm = 'granted';
            return Promise.resolve(perm);
          }
          close() {}
          addEventListener() {}
        }
        window.Notification = FakeNotification;
      });
      await rec.reload();
      await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
      await page.getByTestId('live').and(page.locator('[data-state="live"]')).waitFor();
      const box = page.getByLabel('Notify me of new sev1/sev2');
      assert.equal(await box.isChecked(), false);
      const s1 = `sev1 before ticking ${unique('n')}`;
      const r0 = await s.signal({ summary: s1, severity: 'sev1' });
      await rowOf(page, r0.incident_id).waitFor();
      assert.equal(await page.evaluate(() => window.__asked), 0, 'permission asked before the box was ticked');
      assert.deepEqual(await page.evaluate(() => window.__notes), [], 'a notification before the box was ticked');
      await box.check();
      await waitFor(() => page.evaluate(() => window.__asked === 1), { msg: 'Notification.requestPermission once' });
      const low = await s.signal({ summary: `a sev3 ${unique('n')}`, severity: 'sev3' });
      const high = await s.signal({ summary: `a sev2 ${unique('n')}`, severity: 'sev2' });
      await rowOf(page, low.incident_id).waitFor();
      await rowOf(page, high.incident_id).waitFor();
      await waitFor(() => page.evaluate(() => window.__notes.length >= 1), { msg: 'a notification' });
      await page.waitForTimeout(200);
      const notes = await page.evaluate(() => window.__notes);
      assert.equal(notes.length, 1, `one notification (the sev2 only): ${JSON.stringify(notes)}`);
      assert.ok(notes[0].title.includes('a sev2'), JSON.stringify(notes));
      const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
      assert.ok(!stored.includes(s.users.viewer.token), 'the token is in localStorage');
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  endSuite(env);
});
