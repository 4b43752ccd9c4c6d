// Playbooks in the detail view: plan (dry-run) as a responder, approve as a second
// person in another browser, execute, result shown; a 400 shown on its field; the plan
// screenshotted at desktop and phone sizes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useSuite, openAs, screenshot, axeCheck, assertNoHorizontalScroll, unique, waitFor, DESKTOP, PHONE, endSuite } from './harness.mjs';

const env = useSuite({ config: { actions: { canary_step_interval: '1s', rollback_duration: '300ms', approval_ttl: '1h' } } });

const BASE = '/api/playbooks/incidents';

async function catalogue() {
  return (await env.server.get('/api/playbooks/actions')).actions;
}

describe('playbooks', () => {
  test('dry-run as a responder, approve as a second user, execute, result shown', async () => {
    const s = env.server;
    const canary = unique('planner');
    await s.setCanary(canary, 10, { version: 'p2', baseline: 'p1' });
    const r = await s.signal({ kind: 'planner', key: `${canary}:p2`, summary: `planner canary p2 of ${canary} regressed`, severity: 'sev2', details: { canary, version: 'p2' } });
    const id = r.incident_id;
    const offered = (await s.get(`${BASE}/${id}/actions`)).actions;
    const split = (await catalogue()).find((a) => a.name === 'adjust_canary_split');

    const resp = await openAs(env, 'responder', `/incidents/${id}`);
    const appr = await openAs(env, 'approver', `/incidents/${id}`);
    const { page, rec } = resp;
    try {
      const section = page.getByRole('region', { name: 'Playbooks' });
      await section.getByRole('heading', { level: 2, name: 'Playbooks' }).waitFor();
      const items = section.getByTestId('offered-action');
      await items.first().waitFor();
      const types = await items.evaluateAll((els) => els.map((e) => e.getAttribute('data-action-type')));
      assert.deepEqual(types, offered.map((o) => o.action_type), 'the offered actions, in the API order');

      const item = section.locator('[data-testid="offered-action"][data-action-type="adjust_canary_split"]');
      await item.getByText(split.display_name).first().waitFor();
      await item.getByRole('button', { name: `Plan ${split.display_name}` }).click();
      const form = section.getByTestId('action-form');
      await form.waitFor();
      // generated from the schema, pre-filled from the offer
      assert.equal(await form.getByLabel('canary', { exact: true }).inputValue(), canary);
      assert.equal(await form.getByLabel('version', { exact: true }).inputValue(), 'p2');
      const pct = form.getByLabel('target_percent', { exact: true });
      assert.equal(await pct.getAttribute('type'), 'number');
      assert.equal(await pct.getAttribute('min'), '0');
      assert.equal(await pct.getAttribute('max'), '100');
      assert.equal(await pct.inputValue(), '0');
      const gradual = form.getByLabel('gradual', { exact: true });
      assert.equal(await gradual.getAttribute('type'), 'checkbox');
      assert.equal(await gradual.isChecked(), true);

      await pct.fill('50');
      await gradual.uncheck();
      await form.getByRole('button', { name: 'Dry run' }).click();
      const plan = section.getByTestId('plan');
      await plan.getByTestId('action-status').filter({ hasText: 'dry_run_success' }).waitFor({ timeout: 5000 });
      const hist = (await s.get(`${BASE}/${id}/actions/history`)).actions;
      assert.equal(hist.length, 1);
      const a = hist[0];
      assert.equal(a.requested_by, 'carol');
      assert.deepEqual(a.params, { canary, version: 'p2', target_percent: 50, gradual: false });
      assert.equal(a.requires_approval, true);
      await plan.getByText(a.plan.message).waitFor();
      await plan.getByText(/Requires approval: yes/).waitFor();
      await plan.getByText(a.plan.risk).first().waitFor();
      await plan.getByText(a.plan_hash.slice(0, 8)).first().waitFor();
      // the requester can neither approve nor (without approval) execute
      assert.equal(await plan.getByRole('button', { name: 'Approve' }).count(), 0, 'Approve offered to the requester');
      assert.equal(await plan.getByRole('button', { name: 'Execute' }).count(), 0, 'Execute offered before the approval');

      // the card stays the same element while its action changes (live updates do
      // not pull it from under the reader)
      const card = await plan.elementHandle();

      // screenshots of the plan at both sizes
      await plan.scrollIntoViewIfNeeded();
      await screenshot(page, 'playbook-plan');
      await page.setViewportSize(PHONE);
      await plan.scrollIntoViewIfNeeded();
      await assertNoHorizontalScroll(page, 'the plan at 390x844');
      await screenshot(page, 'playbook-plan');
      await page.setViewportSize(DESKTOP);
      await axeCheck(page, 'the detail view with a plan');

      // the approver, in another browser context, finds the plan in the history and approves
      const ap = appr.page;
      const asec = ap.getByRole('region', { name: 'Playbooks' });
      // (the type may be shown as its display name)
      const hrow = asec.getByTestId('action-history').locator('tr').filter({ hasText: new RegExp(`adjust_canary_split|${split.display_name}`) });
      await hrow.first().waitFor({ timeout: 5000 });
      await hrow.first().getByRole('button', { name: 'Show' }).click();
      const aplan = asec.getByTestId('plan');
      await aplan.getByTestId('action-status').filter({ hasText: 'dry_run_success' }).waitFor();
      await aplan.getByRole('button', { name: 'Approve' }).click();
      await aplan.getByTestId('action-status').filter({ hasText: 'approved' }).waitFor({ timeout: 5000 });
      const approved = (await s.get(`${BASE}/${id}/actions/${a.id}`)).action;
      assert.equal(approved.status, 'approved');
      assert.equal(approved.approved_by, 'bob');

      // the responder's view follows (live) and offers Execute
      await plan.getByTestId('action-status').filter({ hasText: 'approved' }).waitFor({ timeout: 3000 });
      assert.equal(await card.evaluate((e) => e.isConnected), true, 'the plan card was replaced by the update');
      await plan.getByRole('button', { name: 'Execute' }).click();
      await plan.getByTestId('action-status').filter({ hasText: 'success' }).waitFor({ timeout: 10000 });
      const done = (await s.get(`${BASE}/${id}/actions/${a.id}`)).action;
      assert.equal(done.status, 'success');
      assert.equal(done.executed_by, 'carol');
      assert.equal((await s.get(`/api/canary/${canary}`)).canary_pct, 50);
      // the result and the log are shown
      const log = plan.getByTestId('action-log');
      await waitFor(async () => (await log.textContent()).includes(done.log.split('\n')[0]), { msg: `the action log (${done.log.split('\n')[0]})` });
      // the history shows it ended
      await section.getByTestId('action-history').locator('tr').filter({ hasText: 'success' }).first().waitFor({ timeout: 3000 });
      // and the approver's page saw it end too
      await aplan.getByTestId('action-status').filter({ hasText: 'success' }).waitFor({ timeout: 5000 });

      // roll it back: a new plan (back to 10 %, a cut: no approval), executed at once
      await plan.getByRole('button', { name: 'Roll back' }).click();
      await waitFor(async () => (await s.get(`${BASE}/${id}/actions/history`)).total === 2, { msg: 'the rollback plan' });
      const rb = (await s.get(`${BASE}/${id}/actions/history`)).actions[0];
      assert.equal(rb.rollback_of, a.id);
      assert.equal(rb.requires_approval, false);
      await plan.getByText(rb.plan.message).waitFor({ timeout: 3000 });
      await plan.getByTestId('action-status').filter({ hasText: 'dry_run_success' }).waitFor();
      await plan.getByRole('button', { name: 'Execute' }).click();
      await plan.getByTestId('action-status').filter({ hasText: 'success' }).waitFor({ timeout: 10000 });
      assert.equal((await s.get(`/api/canary/${canary}`)).canary_pct, 10);
      assert.equal((await s.get(`${BASE}/${id}/actions/${a.id}`)).action.status, 'rolled_back');
      await section.getByTestId('action-history').locator('tr').filter({ hasText: 'rolled_back' }).first().waitFor({ timeout: 3000 });
      await rec.assertClean();
      await appr.rec.assertClean();
    } finally {
      await resp.close();
      await appr.close();
    }
  });

  test('a running action shows its status and growing log live, and Cancel stops it', async () => {
    const s = env.server;
    const canary = unique('planner');
    await s.setCanary(canary, 60, { version: 'p5', baseline: 'p4' });
    const r = await s.signal({ kind: 'planner', key: `${canary}:p5`, summary: `planner canary p5 of ${canary} regressed`, severity: 'sev2', details: { canary, version: 'p5' } });
    const id = r.incident_id;
    const split = (await catalogue()).find((a) => a.name === 'adjust_canary_split');
    const { page, rec, close } = await openAs(env, 'responder', `/incidents/${id}`);
    try {
      const section = page.getByRole('region', { name: 'Playbooks' });
      await section.locator('[data-testid="offered-action"][data-action-type="adjust_canary_split"]').getByRole('button', { name: `Plan ${split.display_name}` }).click();
      const form = section.getByTestId('action-form');
      // the offer: to 0 %, gradually (steps of 10 points every second: 6 steps)
      assert.equal(await form.getByLabel('target_percent', { exact: true }).inputValue(), '0');
      assert.equal(await form.getByLabel('gradual', { exact: true }).isChecked(), true);
      await form.getByRole('button', { name: 'Dry run' }).click();
      const plan = section.getByTestId('plan');
      await plan.getByTestId('action-status').filter({ hasText: 'dry_run_success' }).waitFor({ timeout: 5000 });
      await plan.getByText(/Requires approval: no/).waitFor();
      await plan.getByRole('button', { name: 'Execute' }).click();
      await plan.getByTestId('action-status').filter({ hasText: 'running' }).waitFor({ timeout: 3000 });
      const log = plan.getByTestId('action-log');
      await log.filter({ hasText: 'step 2' }).waitFor({ timeout: 5000 }); // the log grows while it runs
      await plan.getByRole('button', { name: 'Cancel' }).click();
      await plan.getByTestId('action-status').filter({ hasText: 'cancelled' }).waitFor({ timeout: 5000 });
      const a = (await s.get(`${BASE}/${id}/actions/history`)).actions[0];
      assert.equal(a.status, 'cancelled');
      const pct = (await s.get(`/api/canary/${canary}`)).canary_pct;
      assert.ok(pct > 0 && pct < 60, `the canary stopped between steps: ${pct}`);
      assert.equal(await plan.getByRole('button', { name: 'Cancel' }).count(), 0, 'Cancel still offered after the end');
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('a param the API refuses shows its message on the field', async () => {
    const s = env.server;
    const id = await s.newIncident({ summary: 'stale models', severity: 'sev3', playbooks: ['rerun_dbt'] });
    const dbt = (await catalogue()).find((a) => a.name === 'rerun_dbt');
    const bad = await s.request('POST', `${BASE}/${id}/actions/dry-run`, { action_type: 'rerun_dbt', params: { models: ['-bad'] } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details.field, 'params.models');
    const { page, rec, close } = await openAs(env, 'responder', `/incidents/${id}`);
    try {
      rec.allow({ method: 'POST', path: `${BASE}/${id}/actions/dry-run`, status: 400 }); // provoked
      const section = page.getByRole('region', { name: 'Playbooks' });
      await section.locator('[data-testid="offered-action"][data-action-type="rerun_dbt"]').getByRole('button', { name: `Plan ${dbt.display_name}` }).click();
      const form = section.getByTestId('action-form');
      const models = form.getByLabel('models', { exact: true });
      await models.fill('-bad');
      await form.getByRole('button', { name: 'Dry run' }).click();
      const err = form.getByTestId('field-error').filter({ hasText: bad.body.error.message });
      await err.waitFor({ timeout: 3000 });
      assert.equal(await models.getAttribute('aria-invalid'), 'true');
      // the message sits next to the models field: in the same field wrapper
      const near = await models.evaluate((el, msg) => {
        for (let p = el.parentElement; p && p.getAttribute('data-testid') !== 'action-form'; p = p.parentElement) {
          const e = p.querySelector('[data-testid="field-error"]');
          if (e) return e.textContent.includes(msg) && !p.querySelector('[data-testid="action-form"]');
        }
        return false;
      }, bad.body.error.message);
      assert.ok(near, 'the field error is not next to the models field');
      // nothing was stored
      assert.equal((await s.get(`${BASE}/${id}/actions/history`)).total, 0);
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  endSuite(env);
});
