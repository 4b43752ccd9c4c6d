// app.js — the entry module: session check, client-side router, header, live
// indicator, browser notifications.

import { get, del, setUnauthorizedHandler } from "./api.js";
import * as live from "./live.js";
import { h, fill, heading } from "./ui.js";

// The list, where most visits start, comes with the app; the other views are loaded
// when first shown (the build rewrites these names like static imports).
import * as listView from "./list.js";

const signin = () => import("./signin.js");
const list = () => listView;
const detail = () => import("./detail.js");
const silences = () => import("./silences.js");
const gates = () => import("./gates.js");

const main = document.getElementById("main");
const header = document.getElementById("top");
let session = null; // {actor, role}
let current = null; // the mounted view: {unmount, refresh}
let unsubscribeReset = null;

// ---- routing ----

const ROUTES = [
  [/^\/(incidents\/?)?$/, list, "/"],
  [/^\/incidents\/(\d+)\/?$/, detail, "/"],
  [/^\/silences\/?$/, silences, "/silences"],
  [/^\/gates\/?$/, gates, "/gates"],
];

function match(path) {
  for (const [re, view, nav] of ROUTES) {
    const m = re.exec(path);
    if (m) return { view, nav, params: m.slice(1) };
  }
  return null;
}

// Only same-origin paths are followed after sign-in (no open redirect).
function safeNext(next) {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/signin") ? next : "/";
}

export function navigate(url, opts = {}) {
  if (opts.replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render();
}

function unmount() {
  if (current && current.unmount) current.unmount();
  current = null;
}

let renderSeq = 0;

// Show the view of the current URL. A view's module may still be loading: only the
// latest render mounts (a click during the load wins).
async function render() {
  const my = ++renderSeq;
  unmount();
  const path = location.pathname;
  if (!session) {
    if (path !== "/signin") {
      const here = location.pathname + location.search;
      history.replaceState(null, "", "/signin?next=" + encodeURIComponent(here));
    }
    header.hidden = true;
    const view = await load(signin);
    if (!view || my !== renderSeq) return;
    current = view.mount(main, { onSignedIn, setTitle });
    focusHeading();
    return;
  }
  if (path === "/signin") {
    const next = new URLSearchParams(location.search).get("next");
    history.replaceState(null, "", safeNext(next));
    return render();
  }
  header.hidden = false;
  const m = match(path);
  markNav(m ? m.nav : null);
  if (!m) {
    setTitle("Not found");
    fill(main, h("section.view", null, heading("Page not found"),
      h("p", null, "There is nothing at this address. ", h("a", { href: "/", text: "Back to the incidents" }))));
  } else {
    const view = await load(m.view);
    if (!view || my !== renderSeq) return;
    current = view.mount(main, { session, navigate, setTitle, params: m.params });
  }
  focusHeading();
}

// A view's module; when it cannot be loaded (the server was upgraded and the page is
// older than its assets, or the network is gone), say so instead of a blank page.
async function load(importer) {
  try {
    return await importer(); // a module namespace, or the promise of one
  } catch (e) {
    setTitle("Unavailable");
    fill(main, h("section.view", null, heading("This page could not be loaded"),
      h("p", { role: "alert", text: "Reload the page to get the current version of the dashboard." })));
    return null;
  }
}

// Moving to a view focuses its <h1> (screen readers announce it; Tab continues there).
function focusHeading() {
  const h1 = main.querySelector("h1");
  if (h1) h1.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

function setTitle(t) {
  document.title = t + " · intervene";
}

// Same-origin links without modifier keys are routed here instead of reloading.
document.addEventListener("click", (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest && ev.target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download")) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  const same = url.pathname + url.search === location.pathname + location.search;
  if (same && url.hash) return; // in-page anchors (the skip link) keep their default
  ev.preventDefault();
  if (!same) navigate(url.pathname + url.search + url.hash);
});

window.addEventListener("popstate", render);

// ---- header ----

const nav = h("nav", { "aria-label": "Main" },
  h("ul", null,
    [["Incidents", "/"], ["Silences", "/silences"], ["Gates", "/gates"]].map(([t, href]) =>
      h("li", null, h("a", { href, "data-nav": href, text: t })))));

function markNav(which) {
  for (const a of nav.querySelectorAll("a")) {
    if (a.dataset.nav === which) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

const liveEl = h("span.live", { "data-testid": "live", role: "status", "data-state": "disconnected" });
live.onState((s) => {
  liveEl.dataset.state = s;
  liveEl.textContent = s === "live" ? "Live" : "Disconnected";
});

const whoami = h("span.whoami", { "data-testid": "whoami" });

// Browser notifications for new sev1/sev2 incidents; the choice (never the token)
// is kept in localStorage.
const NOTIFY_KEY = "intervene.notify";
const notifyBox = h("input", { type: "checkbox", id: "notify" });
notifyBox.checked = localStorage.getItem(NOTIFY_KEY) === "1" && "Notification" in window &&
  Notification.permission === "granted";
notifyBox.addEventListener("change", async () => {
  if (!notifyBox.checked) {
    localStorage.removeItem(NOTIFY_KEY);
    return;
  }
  let perm = "denied";
  if ("Notification" in window) {
    try {
      perm = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
    } catch { /* old browsers: treat as denied */ }
  }
  if (perm === "granted") localStorage.setItem(NOTIFY_KEY, "1");
  else {
    notifyBox.checked = false;
    notifyBox.title = "Notifications are blocked for this site";
  }
});

live.subscribe((msg) => {
  if (msg.type !== "incident_created" || !notifyBox.checked || !msg.data) return;
  const inc = msg.data;
  if (inc.severity !== "sev1" && inc.severity !== "sev2") return;
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const n = new Notification(inc.severity + ": " + inc.summary, { body: inc.key, tag: "incident-" + inc.id });
  n.onclick = () => {
    window.focus();
    navigate("/incidents/" + inc.id);
  };
});

const signOut = h("button.link", { type: "button", text: "Sign out" });
signOut.addEventListener("click", async () => {
  live.stop();
  try {
    await del("/api/session", { quiet401: true });
  } catch { /* signed out either way */ }
  toSignin("/");
});

fill(header,
  h("div.bar", null,
    h("a.brand", { href: "/" }, h("span.logo", { "aria-hidden": "true" }), "intervene"),
    nav,
    h("div.status", null,
      liveEl,
      h("span.notify", null, notifyBox, h("label", { for: "notify", text: "Notify me of new sev1/sev2" })),
      whoami,
      signOut)));

// ---- session ----

function setSession(s) {
  session = { actor: s.actor, role: s.role };
  whoami.textContent = `${s.actor} (${s.role})`;
  live.start();
  if (unsubscribeReset) unsubscribeReset();
  // A reset means events were lost: the current view fetches its data again.
  unsubscribeReset = live.subscribe((msg) => {
    if (msg.type === "reset" && current && current.refresh) current.refresh();
  });
}

function toSignin(next) {
  session = null;
  live.stop();
  unmount();
  history.replaceState(null, "", "/signin?next=" + encodeURIComponent(next || location.pathname + location.search));
  render();
}

function onSignedIn(s, next) {
  setSession(s);
  navigate(safeNext(next), { replace: true });
}

// Any 401 of a later request: the session ended (expired, revoked, signed out
// elsewhere) → sign in again, then come back here.
setUnauthorizedHandler(() => {
  if (session) toSignin();
});

// The server fills the index's session element for a signed-in browser, so the first
// view needs no GET /api/session round trip; a session that ended since shows as the
// first 401 (back to sign-in).
function sessionOfPage() {
  const meta = document.querySelector('meta[name="intervene-session"]');
  try {
    const s = meta && meta.content ? JSON.parse(meta.content) : null;
    return s && typeof s.actor === "string" && typeof s.role === "string" ? s : null;
  } catch {
    return null;
  }
}

async function boot() {
  const known = sessionOfPage();
  if (known) {
    setSession(known);
    render();
    return;
  }
  // The view's module loads while the session is asked for.
  const m = match(location.pathname);
  if (m) Promise.resolve(m.view()).catch(() => { /* render() reports it */ });
  try {
    const s = await get("/api/session", { quiet401: true });
    setSession(s);
  } catch (e) {
    if (e.status !== 401) {
      setTitle("Unavailable");
      const retry = h("button", { type: "button", text: "Try again", onclick: boot });
      fill(main, h("section.view", null, heading("intervene is unavailable"),
        h("p", { role: "alert", text: e.message }), retry));
      return;
    }
  }
  render();
}

boot();
