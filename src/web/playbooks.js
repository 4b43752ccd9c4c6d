// playbooks.js — the Playbooks section of an incident: offered actions, a param form
// generated from the catalogue's schema, the plan preview with approve / execute /
// cancel / roll back, the live status and log of a running action, the history.

import { get, post } from "./api.js";
import { subscribe } from "./live.js";
import {
  h, fill, field, alertBox, debounce, timeEl, actionBadge, duration, showError, clearErrors,
  setFieldError, atLeast, keepFocus,
} from "./ui.js";

// The catalogue is fixed for the server's lifetime: fetched once per page load.
let catalogue = null;
function loadCatalogue() {
  if (!catalogue) {
    catalogue = get("/api/playbooks/actions").then((r) => new Map(r.actions.map((a) => [a.name, a])));
    catalogue.catch(() => { catalogue = null; });
  }
  return catalogue;
}

const FINAL = new Set(["success", "failed", "cancelled", "rolled_back", "dry_run_failed"]);
const words = (s) => String(s).replace(/_/g, " ");
const short = (hash) => (hash ? hash.slice(0, 12) : "—");

// One control per param; returns {row, read(): value | undefined, control}.
function paramControl(p, initial) {
  const hint = [p.description, p.required ? "Required." : "",
    p.allowed && p.type === "array" ? "One or more of: " + p.allowed.join(", ") + " (comma separated)." : "",
    p.type === "array" && !p.allowed ? "Comma separated." : ""].filter(Boolean).join(" ");
  let c, read;
  if (p.type === "boolean") {
    c = h("input", { type: "checkbox", name: p.name, checked: initial === true });
    read = () => c.checked;
    const row = field(p.name, c, hint);
    row.classList.add("check");
    return { row, control: c, read };
  }
  if (p.type === "integer" || p.type === "number") {
    c = h("input", { type: "number", name: p.name, step: p.type === "integer" ? "1" : "any", inputmode: "decimal" });
    if (p.min !== undefined) c.min = String(p.min);
    if (p.max !== undefined) c.max = String(p.max);
    if (initial !== undefined && initial !== null) c.value = String(initial);
    read = () => (c.value === "" ? undefined : Number(c.value));
  } else if (p.allowed && p.type === "string") {
    const opts = p.allowed.map((v) => h("option", { value: v, text: v, selected: v === initial }));
    if (!p.required && (initial === undefined || initial === null)) opts.unshift(h("option", { value: "", text: "(default)", selected: true }));
    c = h("select", { name: p.name }, opts);
    read = () => c.value || undefined;
  } else if (p.type === "array") {
    c = h("input", { type: "text", name: p.name, autocomplete: "off", value: Array.isArray(initial) ? initial.join(", ") : "" });
    read = () => {
      const v = c.value.split(",").map((x) => x.trim()).filter(Boolean);
      return v.length ? v : undefined;
    };
  } else if (p.type === "object" || p.type === "any") {
    c = h("textarea", { name: p.name, rows: 3, spellcheck: "false", value: initial === undefined ? "" : JSON.stringify(initial, null, 2) });
    read = () => {
      if (!c.value.trim()) return undefined;
      try {
        return JSON.parse(c.value);
      } catch {
        throw Object.assign(new Error(p.name + " must be JSON"), { field: p.name });
      }
    };
  } else {
    c = h("input", { type: "text", name: p.name, autocomplete: "off", value: initial === undefined || initial === null ? "" : String(initial) });
    read = () => (c.value.trim() === "" ? undefined : c.value);
  }
  return { row: field(p.name, c, hint), control: c, read };
}

// A list of concrete changes (commands, http calls, canary steps).
function changeList(title, items) {
  if (!Array.isArray(items) || !items.length) return null;
  return h("div.changes", null, h("h4", { text: title }),
    h("ol", null, items.map((x) => {
      let t;
      if (typeof x === "string" || typeof x === "number") t = String(x) + (title === "Steps" && typeof x === "number" ? " %" : "");
      else if (x && x.method && (x.path || x.url)) t = `${x.method} ${x.path || x.url}`;
      else t = JSON.stringify(x);
      return h("li", null, h("code", { text: t }));
    })));
}

export function mount(host, ctx) {
  const id = ctx.incidentId;
  const role = ctx.session.role;
  const canWrite = atLeast(role, "responder");
  let alive = true;
  let shown = null; // the action shown in the plan view
  let poll = 0;

  const alert = alertBox();
  const offered = h("ul.offered", { "aria-label": "Offered actions" }, h("li.muted", { text: "Loading…" }));
  const formHost = h("div");
  const planHost = h("div");
  const historyBody = h("tbody");
  const history = h("table.history", { "data-testid": "action-history" },
    h("caption.sr-only", { text: "Action history" }),
    h("thead", null, h("tr", null, ["#", "Type", "Status", "Requested by", "Approved by", "Executed by", "Created", "Finished"]
      .map((t) => h("th", { scope: "col", text: t })), h("th", { scope: "col" }, h("span.sr-only", { text: "Open" })))),
    historyBody);

  fill(host, h("h2", { id: "pb-h", text: "Playbooks" }), alert, offered, formHost, planHost,
    h("h3", { text: "History" }), h("div.table-wrap", null, history));

  // ---- offered actions ----

  async function loadOffered() {
    try {
      const [r, cat] = await Promise.all([get(`/api/playbooks/incidents/${id}/actions`), loadCatalogue()]);
      if (!alive) return;
      keepFocus(offered, () => fill(offered, r.actions.length ? r.actions.map((a) => {
        const approval = a.requires_approval === true ? "Needs approval" : a.requires_approval === false ? "No approval needed" : "Approval: " + a.approval_rule;
        const plan = canWrite && cat.has(a.action_type)
          ? h("button", { type: "button", "data-fk": "plan-" + a.action_type, text: "Plan " + a.display_name, onclick: () => openForm(cat.get(a.action_type), a.params || {}) })
          : null;
        return h("li.offer", { "data-testid": "offered-action", "data-action-type": a.action_type },
          h("div", null, h("strong", { text: a.display_name }), h("p", { text: a.description }), h("small.muted", { text: approval })),
          plan);
      }) : h("li.muted", { text: "No actions are offered for this incident." })));
    } catch (e) {
      if (alive && e.status !== 401) showError(e, null, alert);
    }
  }

  // ---- the param form ----

  function openForm(schema, suggested) {
    const controls = {};
    const readers = [];
    const rows = schema.params.map((p) => {
      const initial = suggested[p.name] !== undefined ? suggested[p.name] : p.default;
      const pc = paramControl(p, initial);
      controls[p.name] = pc.control;
      readers.push([p.name, pc.read]);
      return pc.row;
    });
    const formAlert = alertBox();
    const submit = h("button.primary", { type: "submit", text: "Dry run" });
    const close = h("button", { type: "button", text: "Close form", onclick: () => fill(formHost) });
    const title = h("h3", { tabindex: "-1", text: "Plan: " + schema.display_name });
    const form = h("form.card.inner", { "data-testid": "action-form", novalidate: true },
      title, h("p.muted", { text: schema.description + " Approval: " + schema.approval + "." }),
      rows.length ? rows : h("p.muted", { text: "This action takes no params." }),
      formAlert, h("div.actions", null, submit, close));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearErrors(form, formAlert);
      const params = {};
      try {
        for (const [name, read] of readers) {
          const v = read();
          if (v !== undefined) params[name] = v;
        }
      } catch (err) {
        setFieldError(controls[err.field], err.message);
        controls[err.field].focus();
        return;
      }
      submit.disabled = true;
      try {
        const r = await post(`/api/playbooks/incidents/${id}/actions/dry-run`, { action_type: schema.name, params });
        fill(formHost);
        show(r.action, true);
        loadHistory();
      } catch (e) {
        showError(e, controls, formAlert);
      } finally {
        submit.disabled = false;
      }
    });
    fill(formHost, form);
    title.focus();
  }

  // ---- the plan view ----

  async function act(path, body, label) {
    const planAlert = planHost.querySelector(".alert");
    if (planAlert) clearErrors(planHost, planAlert);
    try {
      const r = await post(`/api/playbooks/incidents/${id}/actions/${path}`, body);
      show(r.action, label === "rollback");
      loadHistory();
    } catch (e) {
      if (planAlert) showError(e, null, planAlert);
    }
  }

  function buttons(a) {
    const b = [];
    const status = a.status;
    const needs = !!a.requires_approval;
    if (needs && status === "dry_run_success" && atLeast(role, "approver") && a.requested_by !== ctx.session.actor) {
      b.push(h("button.primary", { type: "button", text: "Approve", onclick: () => act(`${a.id}/approve`, { plan_hash: a.plan_hash }) }));
    }
    if (canWrite && ((status === "dry_run_success" && !needs) || status === "approved")) {
      b.push(h("button.primary", { type: "button", text: "Execute", onclick: () => act("execute", { action_id: a.id }) }));
    }
    if (canWrite && status === "running") {
      b.push(h("button.danger", { type: "button", text: "Cancel", onclick: () => act(`${a.id}/cancel`, {}) }));
    }
    if (canWrite && status === "success" && a.reversible) {
      b.push(h("button", { type: "button", text: "Roll back", onclick: () => act(`${a.id}/rollback`, {}, "rollback") }));
    }
    return b;
  }

  // The plan's card stays the same element while it shows the same action (its
  // content is replaced), and an update that changes nothing is not drawn again:
  // the live events and the poll re-read the action often, and a reader, a pointer
  // or a keyboard user should not lose what they were on.
  let drawn = "";
  function renderPlan(a, focus) {
    const sig = JSON.stringify(a);
    const cur = planHost.firstElementChild;
    if (sig === drawn && cur && cur.getAttribute("data-action-id") === String(a.id)) {
      if (focus) cur.querySelector("h3").focus();
      return;
    }
    drawn = sig;
    // Keep keyboard focus on the same button across re-renders.
    const had = planHost.contains(document.activeElement) ? document.activeElement.textContent : null;
    const oldLog = planHost.querySelector("pre.log");
    const stick = !oldLog || oldLog.scrollTop + oldLog.clientHeight >= oldLog.scrollHeight - 4;
    const plan = a.plan || {};
    const cat = catalogueSync.get(a.action_type);
    const kv = (k, v) => h("li", null, h("span.k", { text: k + ":" }), " ", v);
    const est = plan.estimates
      ? `${duration(plan.estimates.duration_seconds || 0)}, $${Number(plan.estimates.cost_usd || 0).toFixed(2)}`
      : "—";
    const reqApproval = (a.requires_approval ? "yes" : "no") + (plan.approval_rule ? ` (${plan.approval_rule})` : "");
    const title = h("h3", { tabindex: "-1" }, `Action #${a.id}: ${cat ? cat.display_name : words(a.action_type)} `,
      actionBadge(a.status, { "data-testid": "action-status" }));
    const log = a.log !== undefined && (a.log || a.status !== "dry_run_success")
      ? h("pre.log", { "data-testid": "action-log", tabindex: "0", "aria-label": "Action log", text: a.log || "(no output)" })
      : null;
    const alertEl = alertBox();
    let card = planHost.firstElementChild;
    if (!card || card.getAttribute("data-action-id") !== String(a.id)) {
      card = h("article.card.inner.plan", { "data-testid": "plan", "data-action-id": String(a.id) });
      fill(planHost, card);
    }
    fill(card,
      title,
      plan.message ? h("p.message", { text: plan.message }) : null,
      a.rollback_of ? h("p.muted", { text: `Rolls back action #${a.rollback_of}.` }) : null,
      changeList("Commands", plan.commands),
      !plan.commands ? changeList("HTTP calls", plan.http_calls) : null,
      changeList("Steps", plan.steps),
      h("ul.kv", null,
        kv("Target", a.target || "—"),
        kv("Systems", (plan.systems || []).join(", ") || "—"),
        kv("Risk", plan.risk || "—"),
        kv("Estimates", est),
        kv("Requires approval", reqApproval),
        kv("Reversible", a.reversible ? "yes" + (plan.rollback ? ` (${plan.rollback})` : "") : "no"),
        kv("Plan hash", h("code", { title: a.plan_hash, text: short(a.plan_hash) })),
        kv("Requested by", a.requested_by || "—"),
        a.approved_by ? kv("Approved by", a.approved_by) : null,
        a.executed_by ? kv("Executed by", a.executed_by) : null,
        a.started_at ? kv("Started", timeEl(a.started_at)) : null,
        a.finished_at ? kv("Finished", timeEl(a.finished_at)) : null),
      a.error ? h("p.error-text", { text: "Error: " + a.error }) : null,
      a.result ? h("details", null, h("summary", { text: "Result" }), h("pre.json", { text: JSON.stringify(a.result, null, 2) })) : null,
      log,
      alertEl,
      h("div.actions", null, buttons(a)));
    const newLog = planHost.querySelector("pre.log");
    if (newLog) newLog.scrollTop = stick ? newLog.scrollHeight : oldLog.scrollTop;
    if (had) {
      const same = [...planHost.querySelectorAll("button")].find((x) => x.textContent === had);
      (same || title).focus();
    } else if (focus) title.focus();
  }

  let catalogueSync = new Map();
  loadCatalogue().then((m) => { catalogueSync = m; }).catch(() => {});

  // Show an action; fetch it whole (with its log) unless `a` already is.
  async function show(a, focus) {
    shown = a;
    renderPlan(a, focus);
    if (a.log === undefined) await fetchShown();
    schedulePoll();
  }

  async function fetchShown() {
    if (!shown) return;
    const want = shown.id;
    try {
      const r = await get(`/api/playbooks/incidents/${id}/actions/${want}`);
      if (!alive || !shown || shown.id !== want) return;
      shown = r.action;
      renderPlan(shown, false);
    } catch (e) {
      if (alive && e.status !== 401) showError(e, null, alert);
    }
  }

  // While the shown action runs, its log is fetched every second.
  function schedulePoll() {
    clearInterval(poll);
    poll = 0;
    if (shown && shown.status === "running") {
      poll = setInterval(async () => {
        await fetchShown();
        if (!shown || FINAL.has(shown.status) || shown.status !== "running") {
          clearInterval(poll);
          poll = 0;
          loadHistory();
        }
      }, 1000);
    }
  }

  // ---- history ----

  async function loadHistory() {
    try {
      const r = await get(`/api/playbooks/incidents/${id}/actions/history?per_page=50`);
      if (!alive) return;
      await loadCatalogue().then((m) => { catalogueSync = m; }).catch(() => {});
      keepFocus(historyBody, () => fill(historyBody, r.actions.length ? r.actions.map((a) => {
        const who = (x) => x || h("span.muted", { text: "—" });
        const cat = catalogueSync.get(a.action_type);
        const rid = "act-" + a.id;
        return h("tr", { "data-action-id": a.id },
          h("td", { "data-label": "#", id: rid, text: "#" + a.id }),
          h("td", { "data-label": "Type", text: cat ? cat.display_name : words(a.action_type) }),
          h("td", { "data-label": "Status" }, actionBadge(a.status)),
          h("td", { "data-label": "Requested by" }, who(a.requested_by)),
          h("td", { "data-label": "Approved by" }, who(a.approved_by)),
          h("td", { "data-label": "Executed by" }, who(a.executed_by)),
          h("td", { "data-label": "Created" }, timeEl(a.created_at)),
          h("td", { "data-label": "Finished" }, a.finished_at ? timeEl(a.finished_at) : who(null)),
          h("td", null, h("button.small", { type: "button", "data-fk": "show-" + a.id, text: "Show", "aria-describedby": rid, onclick: () => show(a, true) })));
      }) : h("tr", null, h("td.muted", { colspan: 9, text: "No actions yet." }))));
    } catch (e) {
      if (alive && e.status !== 401) showError(e, null, alert);
    }
  }

  // Action events of this incident: the history and the shown action change.
  const later = debounce(() => {
    loadHistory();
    if (shown) fetchShown().then(schedulePoll);
  }, 50);
  const unsub = subscribe((msg) => {
    if (!msg.type.startsWith("action_")) return;
    const d = msg.data || {};
    if (d.incident_id === id || msg.type === "action_rolled_back") later();
  });

  const refresh = () => { loadOffered(); loadHistory(); if (shown) fetchShown(); };
  refresh();

  return {
    refresh,
    unmount() {
      alive = false;
      unsub();
      later.cancel();
      clearInterval(poll);
    },
  };
}
