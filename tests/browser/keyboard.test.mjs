// Everything with the keyboard alone: from the list to an incident, acknowledge, then
// resolve — Tab, Enter and Space only, no mouse.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useSuite, openAs, waitFor, unique, endSuite } from './harness.mjs';

const env = useSuite();

const MAX_TABS = 120;

// Press Tab until the focused element — {tag, href, text} — satisfies pred; returns
// its description.
async function tabTo(page, what, pred) {
  const seen = [];
  for (let i = 0; i < MAX_TABS; i++) {
    await page.keyboard.press('Tab');
    const el = await page.evaluate(() => {
      const e = document.activeElement;
      return e ? { tag: e.tagName, href: e.getAttribute('href'), text: (e.textContent || '').trim(), label: e.getAttribute('aria-label') } : null;
    });
    const desc = el ? `${el.tag.toLowerCase()} "${(el.text || el.label || '').slice(0, 40)}"${el.href ? ` href=${el.href}` : ''}` : 'none';
    seen.push(desc);
    if (el && pred(el)) return desc;
  }
  assert.fail(`${what}: not reached with ${MAX_TABS} Tab presses; focus went through:\n  ${seen.join('\n  ')}`);
}

async function focusRingOf(page) {
  return page.evaluate(() => {
    const cs = getComputedStyle(document.activeElement);
    return { outline: `${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}`, shadow: cs.boxShadow, visible: (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0) || cs.boxShadow !== 'none' };
  });
}

describe('keyboard only', () => {
  test('acknowledge then resolve using only the keyboard', async () => {
    const s = env.server;
    const summary = `keyboard only ${unique('kb')}`;
    const id = await s.newIncident({ summary, severity: 'sev2' });
    const { page, rec, close } = await openAs(env, 'responder', '/');
    try {
      await page.locator(`[data-testid="incident-row"][data-incident-id="${id}"]`).waitFor();
      await tabTo(page, 'the incident link', (el) => el.tag === 'A' && el.href === `/incidents/${id}`);
      const ring = await focusRingOf(page);
      assert.ok(ring.visible, `no visible focus ring on a focused link: ${JSON.stringify(ring)}`);
      await page.keyboard.press('Enter');
      await page.waitForURL((u) => u.pathname === `/incidents/${id}`);
      await page.getByRole('heading', { level: 1, name: summary }).waitFor();
      await waitFor(() => page.evaluate(() => document.activeElement && document.activeElement.tagName === 'H1'), { msg: 'focus on the h1 of the detail view' });

      await tabTo(page, 'the Acknowledge button', (el) => el.tag === 'BUTTON' && el.text === 'Acknowledge');
      const ring2 = await focusRingOf(page);
      assert.ok(ring2.visible, `no visible focus ring on a focused button: ${JSON.stringify(ring2)}`);
      await page.keyboard.press('Enter');
      await page.getByTestId('incident-status').filter({ hasText: 'acknowledged' }).waitFor({ timeout: 3000 });
      await waitFor(async () => (await s.incident(id)).status === 'acknowledged', { msg: 'acknowledged in the API' });

      await tabTo(page, 'the Resolve button', (el) => el.tag === 'BUTTON' && el.text === 'Resolve');
      await page.keyboard.press('Space');
      await page.getByTestId('incident-status').filter({ hasText: 'resolved' }).waitFor({ timeout: 3000 });
      const inc = await s.incident(id);
      assert.equal(inc.status, 'resolved');
      assert.equal(inc.resolved_by, 'carol');
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  endSuite(env);
});
