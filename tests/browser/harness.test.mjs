// The harness's own checks catch what they must: a console error, a CSP violation, a
// request to another origin, a 4xx response, an axe-core violation. (A recorder that
// never complains would let every other test pass vacuously.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useSuite, openAs, axeCheck, toYaml, endSuite } from './harness.mjs';

const env = useSuite();

async function problemsAfter(fn, allow) {
  const { page, rec, close } = await openAs(env, 'viewer', '/');
  try {
    await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
    if (allow) rec.allow(allow);
    await fn(page);
    await page.waitForTimeout(300);
    let err = null;
    try {
      await rec.assertClean();
    } catch (e) {
      err = e;
    }
    return err ? err.message : '';
  } finally {
    await close();
  }
}

describe('the harness itself', () => {
  test('the recorder catches console errors and uncaught errors', async () => {
    const m = await problemsAfter((page) => page.evaluate(() => console.error('boom from the page')));
    assert.match(m, /console error: boom from the page/);
    const m2 = await problemsAfter((page) => page.evaluate(() => setTimeout(() => Promise.reject(new Error('unhandled rejection here')), 0)));
    assert.match(m2, /unhandled rejection here/);
  });

  test('the recorder catches CSP violations (an inline script)', async () => {
    const m = await problemsAfter((page) =>
      page.evaluate(() => {
        const s = document.createElement('script');
        s.textContent = 'window.__ran = 1';
        document.body.append(s);
      }),
    );
    assert.match(m, /CSP violation: script-src/);
  });

  test('the recorder catches 4xx responses unless allowed, and requests to other origins', async () => {
    const m = await problemsAfter((page) => page.evaluate(() => fetch('/api/incidents/999999', { credentials: 'same-origin' })));
    assert.match(m, /response 404 to GET http:\/\/127\.0\.0\.1:\d+\/api\/incidents\/999999/);
    const ok = await problemsAfter((page) => page.evaluate(() => fetch('/api/incidents/999999', { credentials: 'same-origin' })), { method: 'GET', path: '/api/incidents/999999', status: 404 });
    assert.equal(ok, '');
    const m2 = await problemsAfter((page) =>
      page.evaluate(() => {
        const img = document.createElement('img');
        img.src = 'http://127.0.0.2:9/pixel.png';
        document.body.append(img);
      }),
    );
    assert.match(m2, /127\.0\.0\.2/, 'a request to another origin went unnoticed');
  });

  test('axeCheck fails on a WCAG violation', async () => {
    const { page, rec, close } = await openAs(env, 'viewer', '/');
    try {
      await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
      await page.evaluate(() => {
        const i = document.createElement('input');
        i.type = 'text';
        document.querySelector('main').append(i);
      });
      await assert.rejects(axeCheck(page, 'a page with an unlabelled input'), /label/);
      await rec.assertClean(); // axe itself runs without CSP trouble
    } finally {
      await close();
    }
  });

  test('toYaml quotes strings', () => {
    assert.equal(toYaml({ a: { b: 'x: y', c: 1, d: true, e: ['p', 'q'] } }), 'a:\n  b: "x: y"\n  c: 1\n  d: true\n  e: ["p", "q"]\n');
  });

  endSuite(env);
});
