// The gates view: run the gate report over the daily metrics; each agent passed or
// failed with its violations, as the API computes them, and no incident created.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useSuite, openAs, axeCheck, endSuite } from './harness.mjs';

const env = useSuite({
  config: {
    budgets: {
      'search-agent': { max_p95_latency_ms: 1600 },
      'inbox.triage': { min_quality_score: 80 },
    },
  },
});

function daysAgo(n) {
  const d = new Date(Date.now() - n * 86400e3);
  return d.toISOString().slice(0, 10);
}

describe('gates', () => {
  test('the gate report shows each agent, its violations, and creates no incident', async () => {
    const s = env.server;
    const rows = [];
    for (let n = 1; n <= 7; n++) {
      rows.push({ agent: 'search-agent', date: daysAgo(n), total_runs: 1200, successful_runs: 1180, avg_quality_score: 88, avg_latency_ms: 910, p95_latency_ms: 2140 });
      rows.push({ agent: 'inbox.triage', date: daysAgo(n), total_runs: 800, successful_runs: 790, avg_quality_score: 90, avg_latency_ms: 400, p95_latency_ms: 900 });
    }
    const pushed = await s.api('POST', '/api/metrics/daily', rows, { expect: 200 });
    assert.equal(pushed.accepted, rows.length, JSON.stringify(pushed.rejected));
    const want = await s.api('POST', '/api/gates/run', { lookback_days: 7, baseline_days: 14, create_incidents: false }, { expect: 200 });
    assert.equal(want.summary.failed, 1, JSON.stringify(want.summary));
    const before = (await s.get('/api/incidents?per_page=1')).total;

    const { page, rec, close } = await openAs(env, 'responder', '/gates');
    try {
      await page.getByRole('heading', { level: 1, name: 'Gates' }).waitFor();
      assert.match(await page.title(), /gates/i);
      assert.equal(await page.getByLabel('Lookback days').inputValue(), '7');
      assert.equal(await page.getByLabel('Baseline days').inputValue(), '14');
      assert.equal(await page.getByLabel('Agent', { exact: true }).inputValue(), '');
      await page.getByRole('button', { name: 'Run gate report' }).click();
      const report = page.getByTestId('gate-report');
      await report.waitFor({ timeout: 5000 });
      const agents = report.getByTestId('gate-agent');
      await agents.first().waitFor();
      assert.equal(await agents.count(), want.agents.length);
      for (const a of want.agents) {
        const block = report.locator(`[data-testid="gate-agent"][data-agent="${a.agent}"]`);
        await block.waitFor();
        await block.getByText(a.passed ? 'passed' : 'failed', { exact: false }).first().waitFor();
        const vs = block.getByTestId('violation');
        assert.equal(await vs.count(), a.violations.length, `${a.agent}: violations`);
        if (a.violations.length === 0) await block.getByText('All budgets met').waitFor();
        for (const [i, v] of a.violations.entries()) {
          const text = await vs.nth(i).textContent();
          for (const part of [v.budget_type, v.severity, v.message]) assert.ok(text.includes(part), `${a.agent} violation ${i}: "${text}" lacks ${part}`);
          assert.ok(text.includes(String(v.threshold)) || text.includes(v.threshold.toFixed(1)), `threshold ${v.threshold} in "${text}"`);
        }
      }
      const sum = await report.textContent();
      assert.match(sum, new RegExp(`\\b${want.summary.failed}\\b`));
      // one agent only
      await page.getByLabel('Agent', { exact: true }).fill('inbox.triage');
      await page.getByRole('button', { name: 'Run gate report' }).click();
      await report.locator('[data-testid="gate-agent"]').first().waitFor();
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="gate-agent"]').length === 1);
      assert.equal(await report.locator('[data-testid="gate-agent"][data-agent="inbox.triage"]').count(), 1);
      await axeCheck(page, 'the gates view with a report');
      assert.equal((await s.get('/api/incidents?per_page=1')).total, before, 'the gate run created incidents');
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  endSuite(env);
});
