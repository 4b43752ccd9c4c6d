// Silences: create one in the UI, then a matching signal is suppressed and no row
// appears in the list; preview; a refused duration on its field; ending a silence.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useSuite, openAs, rowOf, unique, waitFor, axeCheck, endSuite } from './harness.mjs';

const env = useSuite();

describe('silences', () => {
  test('a silence created in the UI suppresses a matching signal; no row appears', async () => {
    const s = env.server;
    const agent = unique('search-agent');
    const reason = `reindex in progress ${unique('r')}`;
    const { page, rec, close } = await openAs(env, 'responder', '/silences');
    try {
      await page.getByRole('heading', { level: 1, name: 'Silences' }).waitFor();
      assert.match(await page.title(), /silences/i);
      await page.getByLabel('Kind').selectOption('budget');
      await page.getByLabel('Key pattern').fill(`budget:${agent}:*`);
      await page.getByLabel('Reason').fill(reason);
      assert.equal(await page.getByLabel('Duration').inputValue(), '1h', 'the default duration');
      await page.getByLabel('Duration').fill('2h');
      await page.getByRole('button', { name: 'Create silence' }).click();
      const row = page.getByTestId('silence-row').filter({ hasText: reason });
      await row.waitFor({ timeout: 3000 });
      await row.getByText(`budget:${agent}:*`).waitFor();
      const sil = (await s.get('/api/silences')).silences.find((x) => x.reason === reason);
      assert.ok(sil, 'the silence is not stored');
      assert.deepEqual(sil.matcher, { kind: 'budget', key_glob: `budget:${agent}:*` });
      assert.equal(sil.created_by, 'carol');
      const hours = (Date.parse(sil.ends_at) - Date.parse(sil.starts_at)) / 3600e3;
      assert.ok(Math.abs(hours - 2) < 0.01, `the silence lasts ${hours} h, not 2`);
      await rec.assertClean();
    } finally {
      await close();
    }

    // the list: a matching signal is suppressed (API) and never shows; a non-matching one does
    const list = await openAs(env, 'viewer', '/');
    try {
      await list.page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
      await list.page.getByTestId('live').and(list.page.locator('[data-state="live"]')).waitFor();
      const silencedSummary = `${agent} p95 latency 2300 ms over budget 1600 ms`;
      const r1 = await s.signal({ kind: 'budget', key: `budget:${agent}:latency_p95`, summary: silencedSummary, severity: 'sev2' });
      assert.equal(r1.outcome, 'silenced', `the matching signal was not suppressed: ${JSON.stringify(r1)}`);
      assert.equal(r1.incident_id, null);
      // same key, another kind: not matched
      const controlSummary = `${agent} control signal`;
      const r2 = await s.signal({ kind: 'invariant', key: `budget:${agent}:other`, summary: controlSummary, severity: 'sev2' });
      assert.equal(r2.outcome, 'created');
      await rowOf(list.page, r2.incident_id).waitFor({ timeout: 3000 }); // events after the silenced one arrived
      assert.equal(await list.page.getByText(silencedSummary).count(), 0, 'a row for the silenced signal appeared');
      assert.equal((await s.get(`/api/incidents?q=${agent}:latency_p95`)).total, 0);
      await list.rec.assertClean();
    } finally {
      await list.close();
    }
  });

  test('preview shows the active incidents a silence would match', async () => {
    const s = env.server;
    const svc = unique('svc');
    const id = await s.newIncident({ kind: 'alert', key: `alert:${svc}:cpu`, summary: `${svc} CPU above 90%`, severity: 'sev3' });
    void id;
    const { page, rec, close } = await openAs(env, 'responder', '/silences');
    try {
      await page.getByLabel('Key pattern').fill(`alert:${svc}:*`);
      await page.getByRole('button', { name: 'Preview' }).click();
      const pv = page.getByTestId('silence-preview');
      await pv.filter({ hasText: 'Matches 1 active incident' }).waitFor({ timeout: 3000 });
      await pv.getByText(`${svc} CPU above 90%`).waitFor();
      await axeCheck(page, 'the silences view with a preview');
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('a refused duration shows the API message on the Duration field; End ends a silence', async () => {
    const s = env.server;
    const bad = await s.request('POST', '/api/silences', { key_glob: 'x:*', reason: 'r', duration: '8d' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details.field, 'duration');
    const { page, rec, close } = await openAs(env, 'responder', '/silences');
    try {
      rec.allow({ method: 'POST', path: '/api/silences', status: 400 }); // provoked
      const reason = `too long ${unique('r')}`;
      await page.getByLabel('Key pattern').fill('manual:too-long-*');
      await page.getByLabel('Reason').fill(reason);
      const dur = page.getByLabel('Duration');
      await dur.fill('8d');
      await page.getByRole('button', { name: 'Create silence' }).click();
      await page.getByTestId('field-error').filter({ hasText: bad.body.error.message }).waitFor({ timeout: 3000 });
      assert.equal(await dur.getAttribute('aria-invalid'), 'true');
      assert.equal((await s.get('/api/silences')).silences.filter((x) => x.reason === reason).length, 0);
      // corrected, it is created and the error goes away
      await dur.fill('30m');
      await page.getByRole('button', { name: 'Create silence' }).click();
      const row = page.getByTestId('silence-row').filter({ hasText: reason });
      await row.waitFor({ timeout: 3000 });
      await waitFor(async () => (await dur.getAttribute('aria-invalid')) !== 'true', { msg: 'aria-invalid to be cleared' });
      // End it
      await row.getByRole('button', { name: 'End' }).click();
      const sil = () => s.get('/api/silences?all=true').then((b) => b.silences.find((x) => x.reason === reason));
      await waitFor(async () => (await sil()).active === false, { msg: 'the silence to end' });
      await waitFor(async () => (await page.getByTestId('silence-row').filter({ hasText: reason }).getByRole('button', { name: 'End' }).count()) === 0, { msg: 'the End button to go' });
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  endSuite(env);
});
