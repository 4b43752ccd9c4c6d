// The incident's tracker link and delivery state in the detail view, with a GitHub
// stand-in on loopback: delivered shows a link to the issue, a tracker that refuses
// the token shows "dead" with the tracker's error, and an issue URL that is not a web
// address never becomes a link.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { useSuite, openAs, waitFor, unique, endSuite } from './harness.mjs';

// Just enough of GitHub's REST API for creating issues (shapes from GitHub's "Create an
// issue" documentation). `mode`: 'ok' answers 201; 'unauthorized' answers 401 as GitHub
// does for a bad token; 'script-url' answers 201 with an html_url that is not http(s).
function githubStandIn() {
  const st = { mode: 'ok', next: 41, created: [] };
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const send = (code, obj) => {
        res.writeHead(code, { 'Content-Type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(obj));
      };
      if (!/^(Bearer|token) gh-token-1$/.test(req.headers.authorization || '') || st.mode === 'unauthorized') {
        return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
      }
      const m = req.url.match(/^\/repos\/acme\/ops\/issues(\?.*)?$/);
      if (req.method === 'GET' && m) return send(200, []); // find-by-label: nothing yet
      if (req.method === 'POST' && req.url === '/repos/acme/ops/issues') {
        const b = JSON.parse(body);
        const n = st.next++;
        const html = st.mode === 'script-url' ? 'javascript:alert(1)' : `https://github.example/acme/ops/issues/${n}`;
        st.created.push({ n, title: b.title });
        return send(201, { id: 500000 + n, number: n, html_url: html, title: b.title, state: 'open', labels: (b.labels || []).map((name) => ({ name })) });
      }
      if (req.method === 'POST' && /\/issues\/\d+\/comments$/.test(req.url)) return send(201, { id: 1, body: 'x' });
      return send(404, { message: 'Not Found', status: '404' });
    });
  });
  return { st, srv };
}

const gh = githubStandIn();
before(() => new Promise((res) => gh.srv.listen(0, '127.0.0.1', res)));
after(() => new Promise((res) => gh.srv.close(res)));

const env = useSuite();

async function useGithub(s) {
  const base = `http://127.0.0.1:${gh.srv.address().port}`;
  await s.api('PUT', '/api/settings/tracker', {
    value: { provider: 'github', github: { token: 'gh-token-1', owner: 'acme', repo: 'ops', base_url: base } },
    reason: 'browser test of the tracker link',
  });
}

async function issueState(s, id) {
  return (await s.api('GET', `/api/incidents/${id}/issue`)).delivery.state;
}

describe('tracker link and delivery state', () => {
  test('a delivered issue is a link; a dead one shows the tracker\'s error; a non-web URL is no link', async () => {
    const s = env.server;
    await useGithub(s);

    gh.st.mode = 'ok';
    const ok = await s.newIncident({ summary: `delivered ${unique('t')}`, severity: 'sev2' });
    await waitFor(async () => (await issueState(s, ok)) === 'delivered', { timeout: 15000, msg: 'the issue to be delivered' });
    let { page, rec, close } = await openAs(env, 'viewer', `/incidents/${ok}`);
    try {
      const tracker = page.getByTestId('tracker');
      const link = tracker.getByRole('link');
      await link.waitFor();
      assert.match(await link.getAttribute('href'), /^https:\/\/github\.example\/acme\/ops\/issues\/\d+$/);
      assert.match(await link.textContent(), /github \d+/);
      await tracker.getByText('delivered').waitFor();
      await rec.assertClean();
    } finally {
      await close();
    }

    gh.st.mode = 'script-url';
    const odd = await s.newIncident({ summary: `odd url ${unique('t')}`, severity: 'sev3' });
    await waitFor(async () => (await issueState(s, odd)) === 'delivered', { timeout: 15000, msg: 'the second issue to be delivered' });
    ({ page, rec, close } = await openAs(env, 'viewer', `/incidents/${odd}`));
    try {
      const tracker = page.getByTestId('tracker');
      await tracker.getByText('delivered').waitFor();
      assert.equal(await tracker.getByRole('link').count(), 0, 'a javascript: URL became a link');
      await rec.assertClean();
    } finally {
      await close();
    }

    gh.st.mode = 'unauthorized';
    const dead = await s.newIncident({ summary: `dead ${unique('t')}`, severity: 'sev3' });
    await waitFor(async () => (await issueState(s, dead)) === 'dead', { timeout: 20000, msg: 'the issue to go dead on a 401' });
    ({ page, rec, close } = await openAs(env, 'viewer', `/incidents/${dead}`));
    try {
      const tracker = page.getByTestId('tracker');
      await tracker.getByText('dead', { exact: true }).waitFor();
      await tracker.getByText(/Bad credentials|401/).first().waitFor();
      assert.equal(await tracker.getByRole('link').count(), 0);
      await rec.assertClean();
    } finally {
      await close();
    }
  });

  endSuite(env);
});
