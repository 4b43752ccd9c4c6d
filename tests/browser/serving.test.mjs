// How the dashboard is served: the strict CSP, no inline code, long-lived caching of
// hashed assets, deep links, the weight of the whole page, no external request.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { useSuite, openAs, newPage, httpRequest, endSuite } from './harness.mjs';

const env = useSuite();

function directives(csp) {
  const out = {};
  for (const part of csp.split(';')) {
    const [name, ...vals] = part.trim().split(/\s+/);
    if (name) out[name.toLowerCase()] = vals;
  }
  return out;
}

describe('serving: CSP, caching, deep links, page weight', () => {
  test('GET / has a strict CSP, no-cache, and no inline script or style', async () => {
    const r = await env.server.request('GET', '/', undefined, { token: null });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] || '', /^text\/html/);
    const csp = r.headers['content-security-policy'];
    assert.ok(csp, 'no Content-Security-Policy header on /');
    const d = directives(csp);
    assert.deepEqual(d['default-src'], ["'self'"], `default-src: ${csp}`);
    assert.deepEqual(d['script-src'] || d['default-src'], ["'self'"], `script-src must be 'self' only: ${csp}`);
    assert.deepEqual(d['style-src'] || d['default-src'], ["'self'"], `style-src must be 'self' only: ${csp}`);
    assert.deepEqual(d['object-src'], ["'none'"], csp);
    assert.deepEqual(d['frame-ancestors'], ["'none'"], csp);
    assert.deepEqual(d['base-uri'], ["'none'"], csp);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*|https?:/, `CSP allows too much: ${csp}`);
    assert.match(r.headers['cache-control'] || '', /no-cache|no-store/, `index must not be cached for long: ${r.headers['cache-control']}`);

    const html = r.body;
    assert.match(html, /<html[^>]*\slang="en"/, 'lang="en" on <html>');
    assert.match(html, /<title>[^<]+<\/title>/, 'a <title>');
    for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
      assert.match(m[1], /\ssrc=/, `inline script in index.html: ${m[0].slice(0, 120)}`);
      assert.equal(m[2].trim(), '', `script with a src and a body: ${m[0].slice(0, 120)}`);
    }
    assert.doesNotMatch(html, /<style\b/i, 'inline <style> in index.html');
    assert.doesNotMatch(html, /\sstyle\s*=/i, 'style="..." attribute in index.html');
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'inline event handler attribute in index.html');
    assert.doesNotMatch(html, /(src|href)\s*=\s*["']?(https?:)?\/\//i, 'an external URL in index.html');
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
    assert.ok(assets.some((a) => a.endsWith('.js')), `index.html references no script under /assets/: ${assets}`);
    assert.ok(assets.some((a) => a.endsWith('.css')), `index.html references no stylesheet under /assets/: ${assets}`);
    for (const a of assets) assert.match(a, /^\/assets\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{6,}\.[a-z0-9]+$/, `not a hashed asset name: ${a}`);
  });

  test('deep links and every view path serve the index page', async () => {
    const root = await env.server.request('GET', '/', undefined, { token: null });
    for (const p of ['/incidents', '/incidents/42', '/silences', '/gates', '/signin', '/incidents?status=resolved&severity=sev1']) {
      const r = await env.server.request('GET', p, undefined, { token: null });
      assert.equal(r.status, 200, `GET ${p} → ${r.status}`);
      assert.match(r.headers['content-type'] || '', /^text\/html/, `GET ${p}`);
      assert.equal(r.body, root.body, `GET ${p} is not the index page`);
      assert.ok(r.headers['content-security-policy'], `GET ${p} has no CSP`);
    }
    // the API keeps answering JSON 404s for unknown API paths
    const r = await env.server.request('GET', '/api/nope');
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'not_found');
  });

  test('the page loads only hashed, immutable assets from its own origin and weighs at most 150 KB gzip', async () => {
    const pages = [];
    // signed out (sign-in view) and signed in (list, detail)
    const a = await newPage(env.browser, env.server);
    a.rec.allow({ method: 'GET', path: '/api/session', status: 401 });
    await a.rec.goto('/');
    await a.page.getByRole('heading', { level: 1, name: 'Sign in to intervene' }).waitFor();
    pages.push(a);
    const id = await env.server.newIncident({ summary: 'weight check incident', severity: 'sev2' });
    const b = await openAs(env, 'viewer', `/incidents/${id}`);
    await b.page.getByRole('heading', { level: 1, name: 'weight check incident' }).waitFor();
    await b.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Incidents' }).click();
    await b.page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
    await b.page.locator('[data-testid="incident-row"]').first().waitFor();
    pages.push(b);

    // every file the page loaded, the index page once (every view path serves the same)
    const urls = new Set();
    let doc = false;
    for (const p of pages) {
      for (const r of p.rec.requests) {
        if (new URL(r.url).pathname.startsWith('/api/')) continue;
        if (r.resourceType === 'document') {
          if (doc) continue;
          doc = true;
        }
        urls.add(r.url);
      }
    }
    const assetUrls = [...urls].filter((u) => new URL(u).pathname.startsWith('/assets/'));
    assert.ok(assetUrls.length >= 2, `the page loaded no assets: ${[...urls]}`);
    let gz = 0;
    let raw = 0;
    const rows = [];
    for (const u of urls) {
      const p = new URL(u).pathname + new URL(u).search;
      const r = await httpRequest({ port: env.server.port, path: p, headers: { 'Accept-Encoding': 'gzip' } });
      assert.equal(r.status, 200, `GET ${p} → ${r.status}`);
      const enc = r.headers['content-encoding'] || 'identity';
      const body = enc === 'gzip' ? zlib.gunzipSync(r.raw) : r.raw;
      gz += r.raw.length;
      raw += body.length;
      rows.push(`${p} ${r.raw.length} B (${enc}, ${body.length} B raw)`);
      if (p.startsWith('/assets/')) {
        assert.match(p, /^\/assets\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{6,}\.[a-z0-9]+$/, `not a hashed asset name: ${p}`);
        const cc = r.headers['cache-control'] || '';
        assert.match(cc, /immutable/, `${p}: Cache-Control "${cc}" lacks immutable`);
        const age = Number((cc.match(/max-age=(\d+)/) || [])[1] || 0);
        assert.ok(age >= 31536000, `${p}: Cache-Control "${cc}" is not one year`);
        const ct = r.headers['content-type'] || '';
        if (p.endsWith('.js')) assert.match(ct, /^(text|application)\/javascript/, `${p}: ${ct}`);
        if (p.endsWith('.css')) assert.match(ct, /^text\/css/, `${p}: ${ct}`);
        if (p.endsWith('.svg')) assert.match(ct, /^image\/svg\+xml/, `${p}: ${ct}`);
      }
    }
    console.log(`page weight: ${gz} bytes as sent with Accept-Encoding: gzip (${raw} bytes raw) over ${urls.size} files:\n  ${rows.join('\n  ')}`);
    assert.ok(gz <= 150 * 1024, `the page weighs ${gz} bytes compressed, over 150 KB`);
    for (const p of pages) {
      await p.rec.assertClean(); // includes: every request went to the server's origin
      await p.context.close();
    }
  });

  endSuite(env);
});
