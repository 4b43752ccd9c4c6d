// Harness of the browser tests: an intervene server of its own per test file, API
// helpers, Debian's Chromium driven by playwright-core, a page recorder that fails a
// test on console errors, page errors, failed requests, 4xx/5xx responses and requests
// to any other origin, axe-core, screenshots.
//
// Environment: INTERVENE_BIN (default <repo>/build/intervene), CHROMIUM (default
// /usr/bin/chromium), SCREENSHOT_DIR (default <repo>/build/screenshots),
// INTERVENE_KEEP_TMP=1 (keep the servers' directories), HEADED=1 (debugging).

import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { before, after, test } from 'node:test';
import { chromium } from 'playwright-core';

const execFileP = promisify(execFile);

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const BIN = process.env.INTERVENE_BIN || path.join(REPO, 'build', 'intervene');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || path.join(REPO, 'build', 'screenshots');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const unique = (prefix = 'k') => `${prefix}-${crypto.randomBytes(6).toString('hex')}`;
export const now = () => performance.timeOrigin + performance.now(); // epoch ms, sub-ms

// Poll fn() until it returns a truthy value (awaited); return it, or throw.
export async function waitFor(fn, { timeout = 5000, interval = 25, msg = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
    } catch (e) {
      last = e;
    }
    if (last && !(last instanceof Error)) return last;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${msg} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await sleep(interval);
  }
}

// ------------------------------------------------------------------ YAML (small subset)

function yamlScalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  return JSON.stringify(String(v)); // a YAML double-quoted scalar
}

export function toYaml(obj, indent = 0) {
  const pad = '  '.repeat(indent);
  let out = '';
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      out += Object.keys(v).length ? `${pad}${k}:\n${toYaml(v, indent + 1)}` : `${pad}${k}: {}\n`;
    } else if (Array.isArray(v)) {
      out += `${pad}${k}: [${v.map(yamlScalar).join(', ')}]\n`;
    } else {
      out += `${pad}${k}: ${yamlScalar(v)}\n`;
    }
  }
  return out;
}

function deepMerge(base, extra) {
  const out = { ...base };
  for (const [k, v] of Object.entries(extra || {})) {
    if (v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object') out[k] = deepMerge(out[k], v);
    else out[k] = v;
  }
  return out;
}

export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

// Lines that open a sanitizer report (the server's own logfmt lines never count).
const SAN_START = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer|ThreadSanitizer/;
export function sanitizerReports(text) {
  return (text || '').split('\n').filter((l) => !l.startsWith('level=') && SAN_START.test(l));
}

// ------------------------------------------------------------------ HTTP client

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

// One HTTP request → {status, headers, body (parsed JSON when it is JSON), raw (Buffer)}.
export function httpRequest({ port, method = 'GET', path: p, body, token, headers = {}, timeout = 30000, useAgent = false }) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    let data = null;
    if (body !== undefined) {
      data = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      h['Content-Type'] = h['Content-Type'] || 'application/json';
      h['Content-Length'] = data.length;
    }
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: h, timeout, agent: useAgent ? agent : false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        let parsed = raw.toString('utf8');
        if ((res.headers['content-type'] || '').includes('json')) {
          try {
            parsed = JSON.parse(parsed);
          } catch {
            /* keep the text */
          }
        }
        resolve({ status: res.statusCode, headers: res.headers, body: parsed, raw });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${p}: timed out after ${timeout} ms`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

// ------------------------------------------------------------------ Server

export class Server {
  constructor({ config = {}, env = {} } = {}) {
    this.config = config;
    this.extraEnv = env;
    this.proc = null;
    this.runs = []; // {pid, code, signal}
    this.problems = [];
  }

  static async start(opts) {
    const s = new Server(opts);
    await s.init();
    await s.start();
    return s;
  }

  async init() {
    if (!fs.existsSync(BIN)) throw new Error(`intervene binary not found at ${BIN} (build it or set INTERVENE_BIN)`);
    this.dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'intervene-br-'));
    this.port = await freePort();
    this.origin = `http://127.0.0.1:${this.port}`;
    this.configPath = path.join(this.dir, 'intervene.yaml');
    this.stderrPath = path.join(this.dir, 'stderr.log');
    this.token = crypto.randomBytes(32).toString('base64url'); // the bootstrap admin token
    const base = {
      server: { listen: `127.0.0.1:${this.port}` },
      storage: { url: `sqlite://${path.join(this.dir, 'intervene.db')}` },
      watcher: { enabled: false },
    };
    await fsp.writeFile(this.configPath, toYaml(deepMerge(base, this.config)));
  }

  env() {
    const e = { ...process.env };
    delete e.INTERVENE_CONFIG;
    delete e.INTERVENE_TOKEN;
    e.INTERVENE_BOOTSTRAP_TOKEN = this.token;
    return { ...e, ...this.extraEnv };
  }

  url(p = '/') {
    return this.origin + p;
  }

  alive() {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  // Start `intervene --config X serve` (again on the same port after a stop) and wait
  // until /readyz answers 200.
  async start({ timeout = 15000 } = {}) {
    assert.ok(!this.alive(), 'start() of a running server');
    const err = fs.openSync(this.stderrPath, 'a');
    const proc = spawn(BIN, ['--config', this.configPath, 'serve'], {
      cwd: this.dir,
      env: this.env(),
      stdio: ['ignore', err, err],
    });
    fs.closeSync(err);
    this.proc = proc;
    const run = { pid: proc.pid, code: null, signal: null, offset: fs.statSync(this.stderrPath).size };
    this.runs.push(run);
    proc.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        run.code = code;
        run.signal = signal;
        resolve({ code, signal });
      });
    });
    const deadline = Date.now() + timeout;
    for (;;) {
      if (!this.alive()) {
        await proc.exited;
        throw new Error(`intervene serve exited (${run.code ?? run.signal}) during startup:\n${this.stderrTail()}`);
      }
      try {
        const r = await httpRequest({ port: this.port, path: '/readyz', timeout: 1000, useAgent: false });
        if (r.status === 200) break;
      } catch {
        /* not yet listening */
      }
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        await proc.exited;
        throw new Error(`intervene serve was not ready within ${timeout} ms:\n${this.stderrTail()}`);
      }
      await sleep(20);
    }
    return this;
  }

  stderrTail(n = 3000) {
    try {
      const t = fs.readFileSync(this.stderrPath, 'utf8');
      return t.slice(-n);
    } catch {
      return '';
    }
  }

  // SIGTERM; the server must exit 0 within timeout, with no sanitizer report.
  async stop({ timeout = 10000 } = {}) {
    if (!this.proc) return null;
    const proc = this.proc;
    const run = this.runs[this.runs.length - 1];
    if (this.alive()) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), timeout);
      await proc.exited;
      clearTimeout(t);
      if (run.signal === 'SIGKILL') throw new Error(`intervene serve did not exit within ${timeout} ms of SIGTERM:\n${this.stderrTail()}`);
    } else {
      await proc.exited;
    }
    agent.destroy(); // drop keep-alive sockets to the stopped server
    const text = fs.readFileSync(this.stderrPath, 'utf8').slice(run.offset);
    const reports = sanitizerReports(text);
    assert.equal(reports.length, 0, `sanitizer report(s) of intervene serve (pid ${run.pid}):\n${text.slice(-6000)}`);
    assert.ok(run.code === 0, `intervene serve (pid ${run.pid}) ended with ${run.code ?? run.signal}, not 0:\n${text.slice(-3000)}`);
    return run.code;
  }

  async restart() {
    await this.stop();
    return this.start();
  }

  async cleanup() {
    try {
      if (this.alive()) await this.stop();
    } finally {
      if (!process.env.INTERVENE_KEEP_TMP && this.dir) await fsp.rm(this.dir, { recursive: true, force: true });
    }
  }

  // ---- API (bearer token; the admin's unless given)

  request(method, p, body, { token, headers, timeout, useAgent } = {}) {
    return httpRequest({ port: this.port, method, path: p, body, token: token === undefined ? this.token : token, headers, timeout, useAgent });
  }

  async api(method, p, body, { token, expect } = {}) {
    const r = await this.request(method, p, body, { token });
    if (expect !== undefined) {
      const ok = Array.isArray(expect) ? expect.includes(r.status) : r.status === expect;
      assert.ok(ok, `${method} ${p} → ${r.status} (want ${expect}): ${JSON.stringify(r.body)}`);
    }
    return r.body;
  }

  get(p, opts) {
    return this.api('GET', p, undefined, { expect: 200, ...opts });
  }

  // A token via the API (POST /api/tokens, admin). Live at once.
  async createToken(name, role) {
    const b = await this.api('POST', '/api/tokens', { name, role }, { expect: 201 });
    assert.equal(typeof b.token, 'string');
    return b.token;
  }

  // A token via the CLI (`intervene --config X token create`), as an operator would.
  async createTokenCli(name, role) {
    const env = this.env();
    delete env.INTERVENE_BOOTSTRAP_TOKEN;
    const { stdout } = await execFileP(BIN, ['--config', this.configPath, 'token', 'create', '--name', name, '--role', role], { cwd: this.dir, env });
    const lines = stdout.split('\n').filter((l) => l.trim());
    assert.equal(lines.length, 1, `token create must print exactly the token: ${stdout}`);
    return lines[0].trim();
  }

  // The usual cast: admin (bootstrap), a responder, an approver, a viewer.
  async makeUsers() {
    this.users = {
      admin: { name: 'admin', token: this.token },
      responder: { name: 'carol', token: await this.createToken('carol', 'responder') },
      approver: { name: 'bob', token: await this.createToken('bob', 'approver') },
      viewer: { name: 'victor', token: await this.createToken('victor', 'viewer') },
    };
    return this.users;
  }

  // POST /api/signals with one signal (→ the 202 body) or an array (→ results).
  async signal(sig, { token } = {}) {
    const body = { kind: 'manual', summary: 'something broke', ...sig };
    const r = await this.request('POST', '/api/signals', body, { token });
    assert.equal(r.status, 202, `signal → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async signals(list, { token } = {}) {
    const r = await this.request('POST', '/api/signals', list, { token, timeout: 120000, useAgent: true });
    assert.equal(r.status, 202, `signals → ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
    return r.body.results;
  }

  async newIncident(fields = {}) {
    const r = await this.signal({ key: unique('manual'), severity: 'sev3', ...fields });
    assert.equal(r.outcome, 'created', JSON.stringify(r));
    return r.incident_id;
  }

  async incident(id) {
    return (await this.get(`/api/incidents/${id}`)).incident;
  }

  async transition(id, verb, body = {}, opts = {}) {
    return this.api('POST', `/api/incidents/${id}/${verb}`, body, { expect: 200, ...opts });
  }

  async setCanary(name, pct, { version = 'v2', baseline = 'v1', kill = false } = {}) {
    return this.api('PUT', `/api/settings/canary.${name}`, { value: { version, baseline_version: baseline, canary_pct: pct, kill_switch: kill }, reason: 'browser test setup' }, { expect: 200 });
  }

  async lastEventId() {
    // /api/events is in id order; the newest id is found by paging with after_id.
    let after = 0;
    for (;;) {
      const b = await this.get(`/api/events?after_id=${after}&limit=1000`);
      if (b.events.length === 0) return after;
      after = b.events[b.events.length - 1].id;
      if (b.events.length < 1000) return after;
    }
  }
}

// ------------------------------------------------------------------ browser

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: !process.env.HEADED,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A new context (own cookies) with a page and its recorder.
export async function newPage(browser, server, { viewport = DESKTOP, ...ctxOpts } = {}) {
  const context = await browser.newContext({ viewport, ...ctxOpts });
  context.setDefaultTimeout(10000); // a failing wait fails in 10 s, not Playwright's 30
  const page = await context.newPage();
  const rec = new Recorder(page, server);
  page.rec = rec;
  return { context, page, rec };
}

// Sign a context in without the UI: POST /api/session through the context's request
// API, which shares the context's cookie jar (the session cookie is HttpOnly).
export async function signInContext(context, server, token) {
  const r = await context.request.post(server.url('/api/session'), { data: { token }, headers: { Origin: server.origin } });
  assert.equal(r.status(), 200, `POST /api/session → ${r.status()} ${await r.text()}`);
  return r.json();
}

function pathOf(u) {
  try {
    const x = new URL(u);
    return x.pathname;
  } catch {
    return u;
  }
}

// Records everything a test must find clean: console errors, uncaught page errors,
// failed requests, responses >= 400, and every request's origin. allow() adds an
// explicit, narrow exception for one test.
export class Recorder {
  constructor(page, server) {
    this.page = page;
    this.server = server;
    this.consoleErrors = [];
    this.pageErrors = [];
    this.failed = [];
    this.badResponses = [];
    this.requests = []; // {url, method, resourceType, gen}
    this.allowed = []; // {method?, path: string|RegExp, status?: number|number[], failure?: RegExp, until?: fn}
    this.gen = 0; // bumped by each test-initiated navigation (goto/reload)
    this.stopped = false;
    page.on('console', (m) => {
      if (this.stopped || m.type() !== 'error') return;
      this.consoleErrors.push({ text: m.text(), url: m.location()?.url || '' });
    });
    page.on('pageerror', (e) => {
      if (!this.stopped) this.pageErrors.push(String(e && e.stack ? e.stack : e));
    });
    page.on('request', (r) => {
      if (this.stopped) return;
      r._gen = this.gen;
      this.requests.push({ url: r.url(), method: r.method(), resourceType: r.resourceType(), gen: this.gen, at: now() });
    });
    page.on('requestfailed', (r) => {
      if (this.stopped) return;
      this.failed.push({ url: r.url(), method: r.method(), resourceType: r.resourceType(), error: r.failure()?.errorText || '?', gen: r._gen ?? this.gen, curGen: this.gen, active: this.activeRules() });
    });
    page.on('response', (r) => {
      if (this.stopped || r.status() < 400) return;
      this.badResponses.push({ url: r.url(), method: r.request().method(), status: r.status(), active: this.activeRules() });
    });
    // CSP violations are console errors in Chromium; catch them in the page as well
    // (an init script is not subject to the page's CSP).
    page.addInitScript(() => {
      window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
      });
    });
  }

  // rule: {kind?: 'response'|'failed', method?, path: string|RegExp, status?, failure?:
  // RegExp, active?: () => bool}. A rule with active() applies to what happened while
  // active() was true (evaluated when the request failed or the response came).
  allow(rule) {
    this.allowed.push(rule);
  }

  activeRules() {
    return new Set(this.allowed.filter((a) => a.active && a.active()));
  }

  isAllowed(kind, item) {
    return this.allowed.some((a) => {
      if (a.kind && a.kind !== kind) return false;
      if (a.method && item.method && a.method !== item.method) return false;
      const p = pathOf(item.url);
      if (a.path instanceof RegExp ? !a.path.test(p) : a.path !== p) return false;
      if (kind === 'response' && a.status !== undefined) {
        const st = Array.isArray(a.status) ? a.status : [a.status];
        if (!st.includes(item.status)) return false;
      }
      if (kind === 'failed' && a.failure && !a.failure.test(item.error)) return false;
      if (kind === 'failed' && !a.failure && a.status !== undefined) return false;
      if (kind === 'console' && a.console === false) return false;
      if (a.active && !(item.active && item.active.has(a))) return false;
      return true;
    });
  }

  // Test-initiated navigation: requests of the document being left may be aborted.
  async goto(url, opts) {
    this.gen++;
    return this.page.goto(url.startsWith('http') ? url : this.server.url(url), opts);
  }

  async reload(opts) {
    this.gen++;
    return this.page.reload(opts);
  }

  problems() {
    const out = [];
    for (const r of this.badResponses) if (!this.isAllowed('response', r)) out.push(`response ${r.status} to ${r.method} ${r.url}`);
    for (const f of this.failed) {
      // A request of a document the test navigated away from is aborted by the
      // navigation; so is a GET the app itself abandons (an outdated fetch). Neither
      // is a failed request of the server.
      if (f.error === 'net::ERR_ABORTED' && (f.gen < f.curGen || f.method === 'GET')) continue;
      if (!this.isAllowed('failed', f)) out.push(`request failed (${f.error}): ${f.method} ${f.url}`);
    }
    for (const c of this.consoleErrors) {
      // Chromium logs a console error for each 4xx/5xx or failed resource; those
      // allowed above are allowed here too (matched by the URL it names).
      const m = c.text.match(/(https?:\/\/[^\s)]+)/);
      const url = c.url && c.url.includes('/api/') ? c.url : m ? m[1] : c.url;
      const isNet = /Failed to load resource|net::ERR_|status of \d{3}|^\s*(GET|POST|PUT|PATCH|DELETE)\s/.test(c.text);
      if (isNet) {
        const okResp = this.badResponses.some((r) => (r.url === url || c.text.includes(r.url)) && this.isAllowed('response', r));
        const okFail = this.failed.some((f) => (f.url === url || c.text.includes(f.url)) && (this.isAllowed('failed', f) || f.error === 'net::ERR_ABORTED'));
        if (okResp || okFail) continue;
      }
      out.push(`console error: ${c.text}${c.url ? ` (at ${c.url})` : ''}`);
    }
    for (const e of this.pageErrors) out.push(`uncaught page error: ${e}`);
    for (const r of this.requests) {
      if (/^(data|blob):/.test(r.url)) continue;
      let origin;
      try {
        origin = new URL(r.url).origin;
      } catch {
        origin = r.url;
      }
      if (origin !== this.server.origin) out.push(`request to another origin: ${r.method} ${r.url}`);
    }
    return out;
  }

  // The assertion every test ends with (before closing the page).
  async assertClean() {
    let csp = [];
    try {
      csp = await this.page.evaluate(() => window.__cspViolations || []);
    } catch {
      /* the page is gone */
    }
    this.stopped = true;
    const p = this.problems().concat(csp.map((v) => `CSP violation: ${v}`));
    assert.deepEqual(p, [], `the page had problems:\n  ${p.join('\n  ')}`);
    assert.ok(this.requests.length > 0, 'the recorder saw no request at all');
  }

  sseRequests() {
    return this.requests.filter((r) => pathOf(r.url) === '/api/sse/events');
  }
}

// ------------------------------------------------------------------ page helpers

// Sign in through the sign-in view (the page must show it).
export async function signInUI(page, token) {
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export function rowOf(page, id) {
  return page.locator(`[data-testid="incident-row"][data-incident-id="${id}"]`);
}

// A mark on the window: gone after a reload, so its presence proves there was none.
export async function markWindow(page) {
  const mark = unique('mark');
  await page.evaluate((m) => {
    window.__testMark = m;
  }, mark);
  return async () => {
    const v = await page.evaluate(() => window.__testMark);
    assert.equal(v, mark, 'the page was reloaded (the window mark is gone)');
  };
}

export async function screenshot(page, name) {
  await fsp.mkdir(SCREENSHOT_DIR, { recursive: true });
  const vp = page.viewportSize();
  const file = path.join(SCREENSHOT_DIR, `${name}-${vp.width}x${vp.height}.png`);
  await page.screenshot({ path: file, fullPage: false });
  const st = fs.statSync(file);
  assert.ok(st.size > 1000, `screenshot ${file} is empty`);
  return file;
}

// No horizontal scrolling of the page.
export async function assertNoHorizontalScroll(page, what) {
  const d = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth }));
  assert.ok(d.sw <= d.cw + 1, `${what}: the page scrolls horizontally (scrollWidth ${d.sw} > clientWidth ${d.cw})`);
}

// ------------------------------------------------------------------ axe-core

let axeSource = null;
// Run axe-core in the page for the WCAG 2.0/2.1 A and AA rules. The script is given to
// page.evaluate (Runtime.evaluate), which the page's CSP does not restrict — an
// injected <script> (addScriptTag) would be blocked by script-src 'self'.
export async function axeCheck(page, what) {
  if (!axeSource) axeSource = await fsp.readFile(path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  const has = await page.evaluate(() => typeof window.axe === 'object');
  if (!has) await page.evaluate(axeSource);
  const res = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }, resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), html: n.html.slice(0, 200), summary: n.failureSummary })),
    }));
  });
  const text = res
    .map((v) => `  [${v.impact}] ${v.id}: ${v.help}\n` + v.nodes.map((n) => `      ${n.target}\n        ${n.html}\n        ${(n.summary || '').replace(/\n/g, '\n        ')}`).join('\n'))
    .join('\n');
  assert.equal(res.length, 0, `axe-core: ${res.length} WCAG 2 A/AA violation(s) on ${what}:\n${text}`);
}

// ------------------------------------------------------------------ gzip size

export function gzipSize(buf) {
  return zlib.gzipSync(buf).length;
}

// ------------------------------------------------------------------ per-file suite

// One server (with the usual users) and one browser for the tests of a file. The hooks
// never throw: a setup error is raised by every test that uses env.server or
// env.browser (node's JUnit output would only say "cancelled"), and the server's exit
// status is judged by the file's last test, endSuite() (node's JUnit output drops the
// failures of after hooks).
export function useSuite({ config, users = true } = {}) {
  let server = null;
  let browser = null;
  let setupError = null;
  const ready = (what, v) => {
    if (setupError) throw new Error(`setup failed (${what}): ${setupError.stack || setupError}`);
    if (!v) throw new Error(`setup did not run (${what})`);
    return v;
  };
  const env = {
    get server() {
      return ready('server', server);
    },
    get browser() {
      return ready('browser', browser);
    },
  };
  before(async () => {
    try {
      server = await Server.start({ config });
      if (users) await server.makeUsers();
      browser = await launchBrowser();
    } catch (e) {
      setupError = e;
    }
  });
  after(async () => {
    try {
      if (browser) await browser.close();
    } catch (e) {
      console.error(`closing the browser: ${e}`);
    }
    if (server) {
      try {
        await server.cleanup();
      } catch (e) {
        console.error(`cleaning up the server: ${e}`);
      }
    }
  });
  return env;
}

// The last test of a file: the server stops on SIGTERM with exit status 0 and no
// sanitizer report.
export function endSuite(env) {
  test('the server stops cleanly on SIGTERM (exit status 0)', async () => {
    await env.browser.close();
    assert.equal(await env.server.stop(), 0);
  });
}

// A page of a new context signed in as user (cookie via POST /api/session), at path,
// with its recorder. The caller closes the context (close()).
export async function openAs(env, user, p = '/', { viewport = DESKTOP, waitFor: wait = true } = {}) {
  const { context, page, rec } = await newPage(env.browser, env.server, { viewport });
  await signInContext(context, env.server, env.server.users[user].token);
  await rec.goto(p);
  if (wait) await page.locator('h1').first().waitFor({ state: 'visible', timeout: 10000 });
  return { context, page, rec, close: () => context.close() };
}
