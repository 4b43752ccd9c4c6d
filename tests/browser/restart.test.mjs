// The server restarted under an open page: the page shows it is disconnected,
// reconnects by itself (resuming after the last event it saw), and shows what happened
// meanwhile — without a reload.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { useSuite, newPage, signInContext, openAs, rowOf, markWindow, unique, waitFor, endSuite } from './harness.mjs';

// The database files of a stopped server (SQLite: the file, and its -wal/-shm if any).
function dbFiles(s) {
  return fs.readdirSync(s.dir).filter((f) => f.startsWith('intervene.db'));
}
function snapshotDb(s, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const f of dbFiles(s)) fs.copyFileSync(path.join(s.dir, f), path.join(to, f));
}
function restoreDb(s, from) {
  for (const f of dbFiles(s)) fs.rmSync(path.join(s.dir, f));
  for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(s.dir, f));
}

const env = useSuite();

describe('server restart under an open page', () => {
  test('the page reconnects after a server restart and shows what happened meanwhile', async () => {
    const s = env.server;
    const before = await s.newIncident({ summary: 'open before the restart', severity: 'sev2' });
    const { page, rec, close } = await openAs(env, 'responder', '/');
    try {
      const live = page.getByTestId('live');
      await live.and(page.locator('[data-state="live"]')).filter({ hasText: 'Live' }).waitFor();
      assert.equal(await live.getAttribute('role'), 'status');
      await rowOf(page, before).locator('.badge.st-open').waitFor();
      const check = await markWindow(page);
      // an event the page sees before the restart: its id is where the page resumes
      const pre = await s.newIncident({ summary: 'seen before the restart', severity: 'sev3' });
      await rowOf(page, pre).waitFor({ timeout: 3000 });
      const lastSeen = await s.lastEventId();
      const sseBefore = rec.sseRequests().length;

      // the stream ends and reconnects fail while the server is down; both are expected
      let down = true;
      rec.allow({ kind: 'failed', path: '/api/sse/events', active: () => down });
      rec.allow({ kind: 'response', path: '/api/sse/events', status: 503, active: () => down }); // shutting down
      // the list's counts are asked at most once a second: the last of them may come due
      // while the server is down
      rec.allow({ kind: 'failed', method: 'GET', path: '/api/incidents', active: () => down });
      await s.stop(); // SIGTERM, exit status 0
      await live.and(page.locator('[data-state="disconnected"]')).filter({ hasText: 'Disconnected' }).waitFor({ timeout: 5000 });
      await new Promise((r) => setTimeout(r, 1500)); // at least one failed reconnect attempt
      await s.start(); // the same port, the same database
      // meanwhile: a new incident and a change of the one on screen, before the page is back
      const summary = `created while the page was away ${unique('m')}`;
      const r = await s.signal({ kind: 'alert', key: unique('alert'), summary, severity: 'sev1' });
      assert.equal(r.outcome, 'created');
      await s.transition(before, 'acknowledge');
      down = false;

      await live.and(page.locator('[data-state="live"]')).filter({ hasText: 'Live' }).waitFor({ timeout: 15000 });
      await rowOf(page, r.incident_id).getByText(summary).waitFor({ timeout: 3000 });
      await rowOf(page, before).locator('.badge.st-acknowledged').waitFor({ timeout: 3000 });
      // it resumed after the last event it had seen
      const again = rec.sseRequests().slice(sseBefore);
      assert.ok(again.length >= 1, 'no new event stream request');
      const resumed = again.map((x) => new URL(x.url).searchParams.get('last_event_id')).filter((v) => v !== null);
      assert.ok(resumed.length > 0, `the reconnect did not send last_event_id: ${again.map((x) => x.url)}`);
      assert.ok(resumed.every((v) => Number(v) === lastSeen), `last_event_id ${resumed} is not the last event seen (${lastSeen})`);
      assert.ok(!again.some((x) => /token=/.test(x.url)), 'a token in the event stream URL');

      // and it is live again: a signal now shows at once
      const summary2 = `after the reconnect ${unique('a')}`;
      const r2 = await s.signal({ summary: summary2, severity: 'sev3' });
      await rowOf(page, r2.incident_id).getByText(summary2).waitFor({ timeout: 2000 });
      await check(); // no reload at any point
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  test('a reset from the server (its log is behind the page) reloads the view', async () => {
    const s = env.server;
    const kept = await s.newIncident({ summary: `in the backup ${unique('k')}`, severity: 'sev2' });
    const { context, page, rec } = await newPage(env.browser, s);
    try {
      await signInContext(context, s, s.users.responder.token); // the session is in the backup
      await s.stop();
      const backup = path.join(s.dir, 'backup');
      snapshotDb(s, backup);
      await s.start();
      await rec.goto('/');
      await page.getByTestId('live').and(page.locator('[data-state="live"]')).waitFor();
      await rowOf(page, kept).waitFor();
      // events the restored database will not have
      const lostSummary = `not in the backup ${unique('l')}`;
      const lost = await s.newIncident({ summary: lostSummary, severity: 'sev2' });
      await rowOf(page, lost).waitFor({ timeout: 3000 });
      const check = await markWindow(page);
      let down = true;
      rec.allow({ kind: 'failed', path: '/api/sse/events', active: () => down });
      rec.allow({ kind: 'response', path: '/api/sse/events', status: 503, active: () => down });
      await s.stop();
      await page.getByTestId('live').and(page.locator('[data-state="disconnected"]')).waitFor({ timeout: 5000 });
      restoreDb(s, backup); // "a restored backup": the page's last event id is past its newest
      await s.start();
      down = false;
      await page.getByTestId('live').and(page.locator('[data-state="live"]')).waitFor({ timeout: 15000 });
      // the reset made the page fetch its data again: the lost incident is gone
      await page.getByText(lostSummary).waitFor({ state: 'detached', timeout: 3000 });
      await rowOf(page, kept).waitFor();
      // and it follows live events again
      const after = `after the reset ${unique('a')}`;
      const r = await s.signal({ summary: after, severity: 'sev3' });
      await rowOf(page, r.incident_id).getByText(after).waitFor({ timeout: 3000 });
      await check();
      await rec.assertClean();
    } finally {
      await context.close();
    }
  });

  endSuite(env);
});
