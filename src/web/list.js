// list.js — the incident list (/ and /incidents): counts, filters kept in the URL,
// a page of 50, live refresh.

import { get, qs } from "./api.js";
import { subscribe } from "./live.js";
import { h, fill, field, heading, alertBox, debounce, throttle, timeEl, sevBadge, statusBadge, keepFocus } from "./ui.js";

const PER_PAGE = 50;
const STATUSES = [["active", "Active"], ["open", "Open"], ["acknowledged", "Acknowledged"], ["mitigated", "Mitigated"],
  ["resolved", "Resolved"], ["closed", "Closed"], ["", "Any"]];
const SEVERITIES = [["", "Any"], ["sev1", "sev1"], ["sev2", "sev2"], ["sev3", "sev3"], ["sev4", "sev4"]];
export const KINDS = [["", "Any"], ["invariant", "invariant"], ["budget", "budget"], ["planner", "planner"],
  ["manual", "manual"], ["alert", "alert"]];

export const select = (options, value) =>
  h("select", null, options.map(([v, t]) => h("option", { value: v, text: t, selected: v === value })));

// Filters from the URL: status defaults to "active"; "status=" (empty) means any.
function readQuery() {
  const u = new URLSearchParams(location.search);
  const page = parseInt(u.get("page") || "1", 10);
  return {
    status: u.has("status") ? u.get("status") : "active",
    severity: u.get("severity") || "",
    kind: u.get("kind") || "",
    q: u.get("q") || "",
    page: page >= 1 ? page : 1,
  };
}

function writeQuery(f) {
  const u = new URLSearchParams();
  if (f.status !== "active") u.set("status", f.status);
  if (f.severity) u.set("severity", f.severity);
  if (f.kind) u.set("kind", f.kind);
  if (f.q) u.set("q", f.q);
  if (f.page > 1) u.set("page", String(f.page));
  const s = u.toString();
  history.replaceState(null, "", location.pathname + (s ? "?" + s : ""));
}

function count(testid, label) {
  const n = h("strong", { text: "–" });
  return { n, el: h("li", { "data-testid": testid, class: "count " + testid }, n, " ", h("span", { text: label })) };
}

const COLS = ["Severity", "Summary", "Key", "Status", "Kind", "Assignee", "Created"];

function row(inc) {
  const cell = (i, ...c) => h("td", { "data-label": COLS[i], class: i === 5 && !inc.assigned_to ? "unassigned" : null }, ...c);
  return h("tr", { "data-testid": "incident-row", "data-incident-id": inc.id },
    cell(0, sevBadge(inc.severity)),
    cell(1, h("a.summary", { href: "/incidents/" + inc.id, "data-fk": "inc-" + inc.id, text: inc.summary })),
    cell(2, h("small.key", { text: inc.key })),
    cell(3, statusBadge(inc.status)),
    cell(4, inc.kind),
    cell(5, inc.assigned_to || h("span.muted", { text: "—" })),
    cell(6, timeEl(inc.created_at)));
}

export function mount(main, ctx) {
  ctx.setTitle("Incidents");
  const f = readQuery();

  const counts = [count("count-sev1", "active sev1"), count("count-sev2", "active sev2"), count("count-open", "open")];
  const status = select(STATUSES, f.status);
  const severity = select(SEVERITIES, f.severity);
  const kind = select(KINDS, f.kind);
  const search = h("input", { type: "search", value: f.q, autocomplete: "off", placeholder: "summary or key" });
  const form = h("form.filters", { role: "search", "aria-label": "Filter incidents" },
    field("Status", status), field("Severity", severity), field("Kind", kind), field("Search", search));
  form.addEventListener("submit", (ev) => ev.preventDefault());

  const alert = alertBox();
  const tbody = h("tbody");
  const table = h("table.incidents", null,
    h("caption.sr-only", { text: "Incidents" }),
    h("thead", null, h("tr", null, COLS.map((c) => h("th", { scope: "col", text: c })))),
    tbody);
  const empty = h("p.empty", { "data-testid": "empty", hidden: true, text: "No incidents match these filters." });
  const prev = h("button", { type: "button", text: "Previous page", disabled: true });
  const next = h("button", { type: "button", text: "Next page", disabled: true });
  const info = h("span", { "data-testid": "pager-info", "aria-live": "polite" });

  fill(main, h("section.view", null,
    h("div.view-head", null, heading("Incidents"), h("ul.counts", { "aria-label": "Counts" }, counts.map((c) => c.el))),
    form, alert, h("div.table-wrap", null, table), empty,
    h("div.pager", null, prev, info, next)));

  let seq = 0;
  let alive = true;

  async function loadPage() {
    const my = ++seq;
    try {
      const r = await get(qs("/api/incidents", {
        status: f.status, severity: f.severity, kind: f.kind, q: f.q, page: f.page, per_page: PER_PAGE,
      }));
      if (!alive || my !== seq) return;
      alert.hidden = true;
      keepFocus(tbody, () => fill(tbody, r.incidents.map(row)));
      table.hidden = r.incidents.length === 0;
      empty.hidden = r.incidents.length !== 0;
      const pages = Math.max(1, Math.ceil(r.total / PER_PAGE));
      info.textContent = `Page ${f.page} of ${pages} · ${r.total} incident${r.total === 1 ? "" : "s"}`;
      prev.disabled = f.page <= 1;
      next.disabled = f.page >= pages;
    } catch (e) {
      if (!alive || my !== seq || e.status === 401) return;
      alert.textContent = e.message;
      alert.hidden = false;
    }
  }

  async function loadCounts() {
    const q = [{ status: "active", severity: "sev1" }, { status: "active", severity: "sev2" }, { status: "open" }];
    try {
      const rs = await Promise.all(q.map((p) => get(qs("/api/incidents", { ...p, per_page: 1 }))));
      if (!alive) return;
      rs.forEach((r, i) => { counts[i].n.textContent = String(r.total); });
    } catch { /* the page load shows the error */ }
  }

  // The page first; the counts after it, so that they do not compete with it. The
  // counts are asked at most once a second: each is a count over the active
  // incidents, which a storm of events would otherwise repeat many times a second.
  const countsLater = throttle(loadCounts, 1000);
  const refresh = () => loadPage().then(countsLater);

  function apply() {
    f.status = status.value;
    f.severity = severity.value;
    f.kind = kind.value;
    f.q = search.value.trim();
    f.page = 1;
    writeQuery(f);
    loadPage();
  }
  for (const s of [status, severity, kind]) s.addEventListener("change", apply);
  const searchLater = debounce(apply, 250);
  search.addEventListener("input", searchLater);
  search.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { searchLater.cancel(); apply(); } });

  const go = (d) => { f.page += d; writeQuery(f); loadPage(); };
  prev.addEventListener("click", () => go(-1));
  next.addEventListener("click", () => go(1));

  // Any incident event may change the page or the counts.
  const later = debounce(refresh, 50);
  const unsub = subscribe((msg) => {
    if (msg.type.startsWith("incident_") || msg.type === "sla_breached") later();
  });

  refresh();
  return {
    refresh,
    unmount() {
      alive = false;
      unsub();
      later.cancel();
      countsLater.cancel();
      searchLater.cancel();
    },
  };
}
