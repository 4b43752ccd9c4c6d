// The incident detail view: deep link, acknowledge then resolve with the timeline
// updating, live updates from other actors, comments as text, viewers without buttons,
// axe-core, screenshots.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useSuite, openAs, rowOf, markWindow, axeCheck, screenshot, assertNoHorizontalScroll, unique, waitFor, DESKTOP, PHONE, endSuite } from './harness.mjs';

const env = useSuite();

const VERB_LABEL = { acknowledge: 'Acknowledge', mitigate: 'Mitigate', resolve: 'Resolve', close: 'Close', reopen: 'Reopen' };

async function transitionButtons(page) {
  const names = await page.getByTestId('transitions').getByRole('button').evaluateAll((bs) => bs.filter((b) => !b.hidden && b.offsetParent !== null).map((b) => b.textContent.trim()));
  return names.filter((n) => Object.values(VERB_LABEL).includes(n)).sort();
}

async function expectButtonsOf(page, id) {
  const inc = await env.server.incident(id);
  const want = inc.available_transitions.map((v) => VERB_LABEL[v]).sort();
  await waitFor(async () => JSON.stringify(await transitionButtons(page)) === JSON.stringify(want), { msg: `transition buttons ${want} (status ${inc.status})` });
}

async function expectTimelineOf(page, id) {
  const total = (await env.server.get(`/api/incidents/${id}/timeline?per_page=1000`)).total;
  await waitFor(async () => (await page.getByTestId('timeline').locator(':scope > li').count()) === total, { msg: `${total} timeline items` });
  return total;
}

async function statusIs(page, word) {
  await page.getByTestId('incident-status').filter({ hasText: word }).waitFor({ timeout: 3000 });
}

describe('incident detail', () => {
  test('deep link, then acknowledge and resolve from the detail view with the timeline updating', async () => {
    const s = env.server;
    const details = { agent: 'inbox.triage', task_id: 't-42', nested: { list: [1, 2], ok: true } };
    const key = unique('inv_no_pii');
    const r = await s.signal({ kind: 'invariant', key, summary: 'No PII in output failed for inbox.triage', severity: 'sev1', details, source: 'gates' });
    const id = r.incident_id;
    const { page, rec, close } = await openAs(env, 'responder', `/incidents/${id}`);
    try {
      await page.getByRole('heading', { level: 1, name: 'No PII in output failed for inbox.triage' }).waitFor();
      assert.match(await page.title(), /No PII in output failed/, 'the <title> names the incident');
      assert.equal((await page.getByTestId('incident-key').textContent()).trim(), `invariant:${key}`);
      await statusIs(page, 'open');
      const stored = (await s.incident(id)).details;
      assert.deepEqual(stored, details);
      assert.equal(await page.getByTestId('details').textContent(), JSON.stringify(stored, null, 2), 'details pretty-printed with 2 spaces');
      const sla = page.getByTestId('sla');
      await sla.filter({ hasText: /due in/ }).waitFor();
      await expectButtonsOf(page, id);
      const n0 = await expectTimelineOf(page, id);
      const check = await markWindow(page);

      const note = `looking at it ${unique('n')}`;
      await page.getByTestId('transitions').getByLabel('Note (optional)').fill(note);
      await page.getByRole('button', { name: 'Acknowledge', exact: true }).click();
      await statusIs(page, 'acknowledged');
      await expectButtonsOf(page, id);
      const n1 = await expectTimelineOf(page, id);
      assert.equal(n1, n0 + 1);
      const inc = await s.incident(id);
      assert.equal(inc.status, 'acknowledged');
      assert.equal(inc.acknowledged_by, 'carol');
      assert.equal(inc.notes.acknowledge[0].text, note);
      await page.getByTestId('timeline').getByText(/acknowledg/i).first().waitFor();
      await page.getByTestId('timeline').getByText('carol').first().waitFor();
      await sla.filter({ hasText: 'met' }).waitFor(); // the ack stage is met now

      await page.getByRole('button', { name: 'Resolve', exact: true }).click();
      await statusIs(page, 'resolved');
      await expectButtonsOf(page, id);
      assert.equal(await expectTimelineOf(page, id), n0 + 2);
      assert.equal((await s.incident(id)).status, 'resolved');
      await page.getByTestId('timeline').getByText(/resolv/i).first().waitFor();
      await check();
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('the detail view follows changes made by others, live', async () => {
    const s = env.server;
    const id = await s.newIncident({ summary: 'watched incident', severity: 'sev2' });
    const { page, rec, close } = await openAs(env, 'viewer', `/incidents/${id}`);
    try {
      await page.getByRole('heading', { level: 1, name: 'watched incident' }).waitFor();
      await page.getByTestId('live').and(page.locator('[data-state="live"]')).waitFor();
      const check = await markWindow(page);
      const n0 = await expectTimelineOf(page, id);
      const text = `Cache warm-up finished ${unique('c')}`;
      await s.api('POST', `/api/incidents/${id}/comments`, { body: text }, { expect: 201 });
      await page.getByTestId('comments').getByText(text).waitFor({ timeout: 3000 });
      await s.api('POST', `/api/incidents/${id}/assign`, { assigned_to: 'dora' }, { expect: 200 });
      await page.getByText('dora').first().waitFor({ timeout: 3000 });
      await s.transition(id, 'mitigate');
      await statusIs(page, 'mitigated');
      await waitFor(async () => (await page.getByTestId('timeline').locator(':scope > li').count()) > n0, { msg: 'the timeline to grow' });
      await expectTimelineOf(page, id);
      // a viewer gets no transition buttons
      assert.deepEqual(await transitionButtons(page), [], 'a viewer sees transition buttons');
      await check();
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('the SLA clocks count down every second; Assign sets the assignee', async () => {
    const s = env.server;
    const id = await s.newIncident({ summary: 'clocked incident', severity: 'sev1' });
    const { page, rec, close } = await openAs(env, 'responder', `/incidents/${id}`);
    try {
      await page.getByRole('heading', { level: 1, name: 'clocked incident' }).waitFor();
      const sla = page.getByTestId('sla');
      await sla.filter({ hasText: /due in/ }).waitFor();
      const t1 = await sla.textContent();
      await page.waitForTimeout(1300);
      const t2 = await sla.textContent();
      assert.notEqual(t2, t1, 'the SLA clocks did not move in 1.3 s');
      assert.match(t2, /due in/);
      await page.getByLabel('Assignee', { exact: true }).fill('dora');
      await page.getByRole('button', { name: 'Assign', exact: true }).click();
      await waitFor(async () => (await s.incident(id)).assigned_to === 'dora', { msg: 'assigned_to dora' });
      await page.getByTestId('timeline').getByText(/assign/i).first().waitFor({ timeout: 3000 });
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('comments are added from the view and shown as text', async () => {
    const s = env.server;
    const id = await s.newIncident({ summary: 'commented incident', severity: 'sev3' });
    const { page, rec, close } = await openAs(env, 'responder', `/incidents/${id}`);
    try {
      await page.getByRole('heading', { level: 1, name: 'commented incident' }).waitFor();
      const body = `<b id="injected">bold?</b> <img src=x> ${unique('t')}`;
      await page.getByLabel('Comment', { exact: true }).fill(body);
      await page.getByRole('button', { name: 'Add comment' }).click();
      await page.getByTestId('comments').getByText(body).waitFor({ timeout: 3000 });
      assert.equal(await page.locator('#injected').count(), 0, 'a comment was rendered as HTML');
      assert.equal(await page.getByTestId('comments').locator('img').count(), 0, 'a comment was rendered as HTML');
      const cs = (await s.get(`/api/incidents/${id}/comments`)).comments;
      assert.equal(cs.length, 1);
      assert.equal(cs[0].body, body);
      assert.equal(cs[0].author, 'carol');
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('a view whose module cannot be loaded says so and offers the reload', async () => {
    const s = env.server;
    const id = await s.newIncident({ summary: 'behind a missing module', severity: 'sev3' });
    const { page, rec, close } = await openAs(env, 'viewer', '/');
    try {
      // the detail view's module is loaded only when first shown: make it unreachable,
      // as after a server upgrade under an open page
      await page.route(/\/assets\/detail\.[0-9a-f]{12}\.js$/, (r) => r.abort());
      rec.allow({ kind: 'failed', path: /^\/assets\/detail\.[0-9a-f]{12}\.js$/ });
      await rowOf(page, id).getByRole('link', { name: 'behind a missing module' }).click();
      await page.getByRole('heading', { level: 1, name: 'This page could not be loaded' }).waitFor();
      await page.getByRole('alert').filter({ hasText: 'Reload the page' }).waitFor();
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('the detail view passes axe-core (WCAG 2 A/AA) and is screenshotted at 1280x800 and 390x844', async () => {
    const s = env.server;
    const r = await s.signal({
      kind: 'budget',
      key: unique('budget:search-agent:latency_p95'),
      summary: 'search-agent p95 latency 2140 ms over budget 1600 ms',
      severity: 'sev2',
      details: { agent: 'search-agent', budget_type: 'latency_p95', threshold: 1600, actual: 2140 },
    });
    const id = r.incident_id;
    await s.transition(id, 'acknowledge', { notes: 'looking at the index', assigned_to: 'alice' });
    await s.api('POST', `/api/incidents/${id}/comments`, { body: 'Cache warm-up finished at 07:52; watching p95.' }, { expect: 201 });
    for (const vp of [DESKTOP, PHONE]) {
      const { page, rec, close } = await openAs(env, 'responder', `/incidents/${id}`, { viewport: vp });
      try {
        await page.getByRole('heading', { level: 1, name: 'search-agent p95 latency 2140 ms over budget 1600 ms' }).waitFor();
        await statusIs(page, 'acknowledged');
        await page.getByTestId('comments').getByText('Cache warm-up finished').waitFor();
        await page.getByTestId('offered-action').first().waitFor();
        await page.getByTestId('tracker').filter({ hasText: 'No tracker configured' }).waitFor();
        await axeCheck(page, `the incident detail at ${vp.width}x${vp.height}`);
        await assertNoHorizontalScroll(page, `the detail at ${vp.width}x${vp.height}`);
        await screenshot(page, 'detail');
        await rec.assertClean();
      } finally {
        await close();
      }
    }
  });

  endSuite(env);
});
