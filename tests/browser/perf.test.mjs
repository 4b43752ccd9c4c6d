// Performance in the browser: the first render of the list over 100,000 stored
// incidents within 300 ms of the navigation, and a new incident visible within 500 ms
// of its signal's 202. The figures are printed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useSuite, newPage, signInContext, rowOf, unique, now, waitFor, endSuite } from './harness.mjs';

const env = useSuite();

const N = Number(process.env.BROWSER_PERF_INCIDENTS || 100000);
const FIRST_RENDER_MS = 300;
const NEW_VISIBLE_MS = 500;
// "Paging stays instant": a page step within 200 ms of the click; the last page of
// 100,000 (the server skips 99,950 rows) within 500 ms of navigation, cold.
const PAGE_STEP_MS = 200;
const LAST_PAGE_MS = 500;
// Cold loads of the list (the figure is their median: one load's time on a shared
// 2-core machine swings by ±50 ms) and new incidents timed (the figure is the worst).
const LOADS = 5;
const RUNS = 3;

// The time of the first incident row, from the page's own clock: performance.now() is
// measured from the navigation's start (timeOrigin). An init script is not subject to
// the page's CSP.
function firstRowProbe() {
  window.__firstRowAt = null;
  const seen = () => {
    if (window.__firstRowAt === null && document.querySelector('[data-testid="incident-row"]')) {
      window.__firstRowAt = performance.now();
      return true;
    }
    return false;
  };
  const mo = new MutationObserver(() => {
    if (seen()) mo.disconnect();
  });
  mo.observe(document, { childList: true, subtree: true });
}

async function seed() {
  const s = env.server;
  const t0 = now();
  const B = 1000; // max_signals_per_batch (GET /api/version)
  const limits = (await s.get('/api/version', { token: null })).limits;
  assert.ok(limits.max_signals_per_batch >= B, `batches of ${B}: ${JSON.stringify(limits)}`);
  const kinds = ['invariant', 'budget', 'planner', 'manual', 'alert'];
  let next = 0;
  async function worker() {
    while (next < N) {
      const start = next;
      next += B;
      const batch = [];
      for (let i = start; i < Math.min(start + B, N); i++) {
        batch.push({ kind: kinds[i % 5], key: `seed-${i}`, summary: `seeded incident ${i} of the performance test`, severity: `sev${(i % 4) + 1}`, details: { n: i } });
      }
      const res = await s.signals(batch);
      assert.equal(res.length, batch.length);
      assert.ok(res.every((x) => x.outcome === 'created'), `seeding: ${JSON.stringify(res.find((x) => x.outcome !== 'created'))}`);
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()]);
  const total = (await s.get('/api/incidents?per_page=1')).total;
  assert.equal(total, N);
  console.log(`seeded ${N} incidents in ${Math.round(now() - t0)} ms`);
}

describe('performance', () => {
  test(`list over ${N} incidents: first render ≤ ${FIRST_RENDER_MS} ms, paging instant, a new incident visible ≤ ${NEW_VISIBLE_MS} ms after its 202`, async () => {
    await seed();
    // Let the server settle (its background checkpoint folds the seeding's write-ahead
    // log back into the database): the figure is for a store at rest, not one still
    // digesting 100,000 inserts.
    await new Promise((r) => setTimeout(r, 2000));
    const s = env.server;

    // first render: a fresh context (cold cache) each run, signed in by cookie
    const figures = [];
    const walls = [];
    const breakdowns = [];
    for (let i = 0; i < LOADS; i++) {
      const { context, page, rec } = await newPage(env.browser, s);
      try {
        await signInContext(context, s, s.users.viewer.token);
        await page.addInitScript(firstRowProbe);
        const t0 = now();
        await rec.goto('/', { waitUntil: 'commit' });
        await page.locator('[data-testid="incident-row"]').first().waitFor({ state: 'visible', timeout: 10000 });
        walls.push(Math.round(now() - t0));
        const at = await page.evaluate(() => window.__firstRowAt);
        assert.ok(at !== null, 'the probe saw no row');
        figures.push(Math.round(at));
        // where the time went (resource timing, ms from the navigation start)
        breakdowns.push(
          await page.evaluate(() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const res = performance.getEntriesByType('resource');
            const f = (x) => Math.round(x);
            const assets = res.filter((r) => new URL(r.name).pathname.startsWith('/assets/'));
            const api = res.filter((r) => new URL(r.name).pathname.startsWith('/api/') && !r.name.includes('/api/sse/'));
            const parts = [`document ${f(nav.responseEnd)}`, `assets (${assets.length}) done ${f(Math.max(0, ...assets.map((r) => r.responseEnd)))}`];
            for (const r of api) {
              const u = new URL(r.name);
              parts.push(`${u.pathname}${u.search} ${f(r.startTime)}→${f(r.responseEnd)}`);
            }
            return parts.join('; ');
          }),
        );
        assert.equal(await page.locator('[data-testid="incident-row"]').count(), 50, 'a page of 50 rows');
        await page.getByTestId('pager-info').filter({ hasText: `${N.toLocaleString('en-US')} incidents` }).or(page.getByTestId('pager-info').filter({ hasText: `${N} incidents` })).waitFor();
        // The page has finished its work once the counts are in (three counts over the
        // 100,000 open incidents, asked after the first render): the next cold load
        // starts on an idle server, not behind this one's counts.
        for (const c of ['count-sev1', 'count-sev2', 'count-open']) {
          await page.getByTestId(c).locator('strong').filter({ hasText: /^\d+$/ }).waitFor({ timeout: 10000 });
        }
        assert.equal(await page.getByTestId('count-open').locator('strong').textContent(), String(N));
        await rec.assertClean();
      } finally {
        await context.close();
      }
    }
    const sorted = [...figures].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    console.log(`first render over ${N} incidents: ${median} ms (median of ${LOADS} cold loads: ${figures.join(', ')} ms after navigation start; wall clock from page.goto: ${walls.join(', ')} ms)`);
    console.log(`  where the time went (ms after navigation start), run by run:\n    ${breakdowns.map((b, i) => `${figures[i]} ms: ${b}`).join('\n    ')}`);

    // paging stays instant: "Next page" three times (click → the next page's rows), and
    // a cold load of the last page (OFFSET over all 100,000)
    const pages = Math.ceil(N / 50);
    const steps = [];
    let last = null;
    {
      const { context, page, rec } = await newPage(env.browser, s);
      try {
        await signInContext(context, s, s.users.viewer.token);
        await rec.goto('/');
        await page.locator('[data-testid="incident-row"]').first().waitFor();
        for (let k = 2; k <= 4; k++) {
          // timed in the page: from the click event to the first row of the next page
          await page.evaluate(() => {
            const first = () => document.querySelector('[data-testid="incident-row"]')?.getAttribute('data-incident-id');
            const was = first();
            window.__step = null;
            document.addEventListener('click', () => {
              const t0 = performance.now();
              const mo = new MutationObserver(() => {
                if (first() && first() !== was) {
                  window.__step = performance.now() - t0;
                  mo.disconnect();
                }
              });
              mo.observe(document.body, { childList: true, subtree: true });
            }, { capture: true, once: true });
          });
          await page.getByRole('button', { name: 'Next page' }).click();
          await page.getByTestId('pager-info').filter({ hasText: `Page ${k} of ${pages}` }).waitFor();
          steps.push(Math.round(await waitFor(() => page.evaluate(() => window.__step), { msg: 'the next page\'s rows' })));
        }
        await page.addInitScript(firstRowProbe);
        await rec.goto(`/?page=${pages}`, { waitUntil: 'commit' });
        await page.getByTestId('pager-info').filter({ hasText: `Page ${pages} of ${pages}` }).waitFor();
        last = Math.round(await waitFor(() => page.evaluate(() => window.__firstRowAt), { msg: 'the last page\'s rows' }));
        await rec.assertClean();
      } finally {
        await context.close();
      }
    }
    console.log(`paging over ${N} incidents: Next page ${steps.join(', ')} ms (click → rows); the last page (${pages}) first rendered ${last} ms after navigation start`);

    // a new incident: from the 202 of its signal to its row in the open list
    const { context, page, rec } = await newPage(env.browser, s);
    try {
      await signInContext(context, s, s.users.viewer.token);
      await rec.goto('/');
      await page.locator('[data-testid="incident-row"]').first().waitFor();
      await page.getByTestId('live').and(page.locator('[data-state="live"]')).waitFor();
      const delays = [];
      for (let i = 0; i < RUNS; i++) {
        const marker = unique('fresh');
        await page.evaluate((m) => {
          window.__seenAt = null;
          const mo = new MutationObserver(() => {
            for (const r of document.querySelectorAll('[data-testid="incident-row"]')) {
              if (r.textContent.includes(m)) {
                window.__seenAt = performance.timeOrigin + performance.now();
                mo.disconnect();
                return;
              }
            }
          });
          mo.observe(document.body, { childList: true, subtree: true, characterData: true });
        }, marker);
        const r = await s.request('POST', '/api/signals', { kind: 'manual', key: marker, summary: `new incident ${marker}`, severity: 'sev1' });
        const t202 = now();
        assert.equal(r.status, 202);
        await rowOf(page, r.body.incident_id).waitFor({ state: 'visible', timeout: 5000 });
        const seenAt = await waitFor(() => page.evaluate(() => window.__seenAt), { msg: 'the probe to see the row' });
        delays.push(Math.max(0, Math.round(seenAt - t202)));
        await new Promise((res) => setTimeout(res, 300));
      }
      const worst = Math.max(...delays);
      console.log(`new incident visible after ${worst} ms (worst of ${RUNS}: ${delays.join(', ')} ms after the 202)`);
      await rec.assertClean();
      assert.ok(median <= FIRST_RENDER_MS, `first render over ${N} incidents took ${median} ms (> ${FIRST_RENDER_MS})`);
      assert.ok(Math.max(...steps) <= PAGE_STEP_MS, `Next page took ${Math.max(...steps)} ms (> ${PAGE_STEP_MS})`);
      assert.ok(last <= LAST_PAGE_MS, `the last page took ${last} ms (> ${LAST_PAGE_MS})`);
      assert.ok(worst <= NEW_VISIBLE_MS, `a new incident became visible ${worst} ms after its 202 (> ${NEW_VISIBLE_MS})`);
    } finally {
      await context.close();
    }
  });

  endSuite(env);
});
