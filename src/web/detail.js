// detail.js — one incident (/incidents/{id}): facts, SLA clocks, tracker, transitions,
// assignment, comments, timeline, and the playbooks section (playbooks.js).

import { get, post, ApiError } from "./api.js";
import { subscribe, concerns } from "./live.js";
import {
  h, fill, field, heading, alertBox, debounce, timeEl, sevBadge, statusBadge, duration,
  showError, clearErrors, atLeast, keepFocus, absolute,
} from "./ui.js";
import * as playbooks from "./playbooks.js";

const VERBS = { acknowledge: "Acknowledge", mitigate: "Mitigate", resolve: "Resolve", close: "Close", reopen: "Reopen" };
const STAGES = [["ack", "Acknowledge"], ["mitigate", "Mitigate"], ["resolve", "Resolve"]];

// The timeline in words.
const CHANGES = {
  acknowledged: "Acknowledged", mitigated: "Mitigated", resolved: "Resolved", closed: "Closed",
  reopened: "Reopened", assigned: "Assigned", updated: "Edited", severity_changed: "Severity changed",
  deduplicated: "Signal folded in", issue_linked: "Tracker issue linked", commented: "Comment added",
};
const TYPES = {
  incident_created: "Incident opened", sla_breached: "SLA breached", action_planned: "Action planned",
  action_approved: "Action approved", action_started: "Action started", action_executed: "Action ended",
  action_rolled_back: "Action rolled back", issue_delivered: "Tracker call delivered",
  issue_failed: "Tracker call failed",
};

const clip = (s, n = 140) => (s && s.length > n ? s.slice(0, n - 1) + "…" : s || "");

function describe(ev) {
  const d = ev.data || {};
  if (ev.type === "incident_updated") {
    const title = CHANGES[d.change_type] || "Updated";
    let detail = "";
    switch (d.change_type) {
      case "assigned": detail = d.incident && d.incident.assigned_to ? "to " + d.incident.assigned_to : "unassigned"; break;
      case "severity_changed": detail = `${d.previous_severity} → ${d.incident && d.incident.severity}` + (d.reason ? ": " + d.reason : ""); break;
      case "updated": detail = (d.changed_fields || []).join(", "); break;
      case "deduplicated": detail = `occurrence ${d.incident && d.incident.occurrences}` + (d.signal ? ": " + d.signal.summary : ""); break;
      case "commented": detail = d.comment ? d.comment.body : ""; break;
      case "issue_linked": detail = d.issue_ref ? `${d.issue_ref.provider} ${d.issue_ref.id}` : ""; break;
      default: detail = d.notes || (d.signal ? "by signal: " + d.signal.summary : "");
    }
    return [title, clip(detail)];
  }
  const title = TYPES[ev.type] || ev.type.replace(/_/g, " ");
  switch (ev.type) {
    case "incident_created": return [title, clip(d.summary)];
    case "sla_breached": return [title, `${d.stage} was due ${absolute(d.due_at)}`];
    case "action_planned": case "action_approved": case "action_started":
      return [title, `#${d.id} ${d.action_type} (${String(d.status).replace(/_/g, " ")})`];
    case "action_executed": return [title, `#${d.action_id} ${d.action_type}: ${d.status}` + (d.error ? " — " + clip(d.error) : "")];
    case "action_rolled_back": return [title, `#${d.action_id} by #${d.rollback_action_id}`];
    case "issue_delivered": return [title, d.op + (d.external_id ? " " + d.external_id : "")];
    case "issue_failed": return [title, d.op + ": " + clip(d.error)];
    default: return [title, ""];
  }
}

// One SLA stage as words, for now.
function slaText(s, now) {
  if (!s || !s.due_at) return ["none", "—"];
  if (s.met === true) return ["met", "met"];
  if (s.met === false) return ["missed", "missed"];
  const left = (Date.parse(s.due_at) - now) / 1000;
  return left >= 0 ? ["pending", "due in " + duration(left)] : ["overdue", "overdue by " + duration(-left)];
}

export function mount(main, ctx) {
  const id = Number(ctx.params[0]);
  const canWrite = atLeast(ctx.session.role, "responder");
  let inc = null;
  let alive = true;
  let trackerProvider = null; // "none" when no tracker is configured

  ctx.setTitle("Incident " + id);
  const h1 = heading("Incident " + id);
  const badges = h("div.badges");
  const facts = h("dl.facts");
  const slaList = h("ul.sla", { "data-testid": "sla" });
  const tracker = h("div.tracker", { "data-testid": "tracker" }, h("span.muted", { text: "Loading…" }));
  const details = h("pre.json", { "data-testid": "details" });
  const loadAlert = alertBox();

  // --- transitions ---
  const note = h("textarea", { rows: 2, name: "notes" });
  const verbs = h("div.actions");
  const trAlert = alertBox();
  const transitions = h("section.card", { "data-testid": "transitions" },
    h("h2", { id: "tr-h", text: "Status" }),
    canWrite
      ? [field("Note (optional)", note), trAlert, verbs]
      : h("p.muted", { text: `Your role (${ctx.session.role}) cannot change incidents.` }));

  async function transition(verb, btn) {
    clearErrors(transitions, trAlert);
    btn.disabled = true;
    try {
      const body = note.value.trim() ? { notes: note.value } : {};
      const r = await post(`/api/incidents/${id}/${verb}`, body);
      note.value = "";
      render(r.incident);
      // The clicked button is gone (the verbs changed): keep focus in the section.
      if (!btn.isConnected) (verbs.querySelector("button") || note).focus();
      loadSide();
    } catch (e) {
      showError(e, { notes: note }, trAlert);
    } finally {
      btn.disabled = false;
    }
  }

  // --- assignment ---
  const assignee = h("input", { type: "text", autocomplete: "off", name: "assigned_to" });
  const asAlert = alertBox();
  const assignForm = h("form.inline", { novalidate: true }, field("Assignee", assignee), h("button", { type: "submit", text: "Assign" }), asAlert);
  assignForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(assignForm, asAlert);
    try {
      const r = await post(`/api/incidents/${id}/assign`, { assigned_to: assignee.value.trim() });
      render(r.incident);
      loadSide();
    } catch (e) {
      showError(e, { assigned_to: assignee }, asAlert);
    }
  });

  // --- comments ---
  const comments = h("ol.comments", { "data-testid": "comments" });
  const commentBox = h("textarea", { rows: 3, name: "body" });
  const cmAlert = alertBox();
  const commentForm = h("form", { novalidate: true }, field("Comment", commentBox), cmAlert,
    h("div.actions", null, h("button", { type: "submit", text: "Add comment" })));
  commentForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(commentForm, cmAlert);
    try {
      await post(`/api/incidents/${id}/comments`, { body: commentBox.value });
      commentBox.value = "";
      loadSide();
    } catch (e) {
      showError(e, { body: commentBox }, cmAlert);
    }
  });

  const timeline = h("ol.timeline", { "data-testid": "timeline", "aria-label": "Timeline, newest first" });
  const pbHost = h("section.card.playbooks", { "aria-labelledby": "pb-h" }, h("h2", { id: "pb-h", text: "Playbooks" }));

  const page = h("section.view.detail", null,
    h("p.crumb", null, h("a", { href: "/", text: "← Incidents" })),
    h1, badges, loadAlert,
    h("div.grid", null,
      h("div.col-main", null,
        transitions,
        pbHost,
        h("section.card", null, h("h2", { id: "cm-h", text: "Comments" }), comments, canWrite ? commentForm : null),
        h("section.card", null, h("h2", { id: "tl-h", text: "Timeline" }), timeline)),
      h("div.col-side", null,
        h("section.card", null, h("h2", { id: "fa-h", text: "Facts" }), facts,
          canWrite ? assignForm : null),
        h("section.card", null, h("h2", { id: "sla-h", text: "SLA" }), slaList),
        h("section.card", null, h("h2", { id: "tk-h", text: "Tracker" }), tracker),
        h("section.card", null, h("h2", { id: "dt-h", text: "Details" }), details))));
  fill(main, page);

  // The playbooks section starts once the incident is known to exist (no 404s).
  let pb = null;

  function renderSla() {
    if (!inc) return;
    const now = Date.now();
    fill(slaList, STAGES.map(([k, label]) => {
      const [state, text] = slaText(inc.sla && inc.sla[k], now);
      const due = inc.sla && inc.sla[k] && inc.sla[k].due_at;
      return h("li", { "data-stage": k, class: "sla-" + state },
        h("span.sla-stage", { text: label }), " ",
        h("span.sla-value", { title: due ? "due " + absolute(due) : null, text }));
    }));
  }
  const slaTimer = setInterval(renderSla, 1000);

  function render(i) {
    inc = i;
    ctx.setTitle(i.summary);
    h1.textContent = i.summary;
    fill(badges,
      h("code.key", { "data-testid": "incident-key", text: i.key }),
      sevBadge(i.severity),
      h("span", { class: "badge st-" + i.status, "data-testid": "incident-status", text: i.status }));
    const dd = (t, v) => [h("dt", { text: t }), h("dd", null, v)];
    fill(facts,
      dd("Kind", i.kind), dd("Source", i.source), dd("Occurrences", String(i.occurrences)),
      dd("Assignee", i.assigned_to || h("span.muted", { text: "unassigned" })),
      dd("Created", timeEl(i.created_at)), dd("Updated", timeEl(i.updated_at)),
      dd("Last seen", timeEl(i.last_seen_at)));
    if (document.activeElement !== assignee) assignee.value = i.assigned_to || "";
    details.textContent = JSON.stringify(i.details || {}, null, 2);
    // Rebuilt only when the verbs change, so that a live refresh keeps the focus.
    const vs = (i.available_transitions || []).filter((v) => VERBS[v]);
    if (vs.join() !== verbs.dataset.verbs) {
      verbs.dataset.verbs = vs.join();
      keepFocus(verbs, () => fill(verbs, vs.length ? vs.map((v) => {
        const b = h("button", { type: "button", "data-fk": "verb-" + v, class: v === "acknowledge" || v === "resolve" ? "primary" : null, text: VERBS[v] });
        b.addEventListener("click", () => transition(v, b));
        return b;
      }) : h("span.muted", { text: "No transitions from " + i.status + "." })));
    }
    renderSla();
    renderTracker(null);
    if (!pb) pb = playbooks.mount(pbHost, { session: ctx.session, incidentId: id });
  }

  let issue = null;
  function renderTracker(newIssue) {
    if (newIssue) issue = newIssue;
    const url = (issue && issue.issue_url) || (inc && inc.issue_url);
    const ref = (issue && issue.issue_ref) || (inc && inc.issue_ref);
    const parts = [];
    // Only web links: the tracker's answer is data, and a javascript: or data: URL
    // must never become a link.
    if (url && /^https?:\/\//i.test(url)) parts.push(h("p", null, h("a", { href: url, rel: "noopener noreferrer", target: "_blank", text: ref ? `${ref.provider} ${ref.id}` : "issue" })));
    if (issue) {
      const d = issue.delivery || {};
      if (!ref && d.state === "none" && trackerProvider === "none") parts.push(h("p.muted", { text: "No tracker configured" }));
      else if (d.state === "none") parts.push(h("p.muted", { text: "No tracker issue" }));
      else {
        parts.push(h("p", null, "Delivery: ", h("span", { class: "badge dl-" + d.state, text: d.state })));
        if (d.state === "dead" && d.last_error) parts.push(h("p.error-text", { text: d.last_error }));
      }
    }
    if (parts.length) fill(tracker, parts);
  }

  let seq = 0;
  async function loadIncident() {
    const my = ++seq;
    try {
      const r = await get("/api/incidents/" + id);
      if (alive && my === seq) render(r.incident);
      return true;
    } catch (e) {
      if (!alive || e.status === 401) return false;
      if (e.status === 404) {
        ctx.setTitle("Incident not found");
        fill(page, h("p.crumb", null, h("a", { href: "/", text: "← Incidents" })), h1,
          h("p", { text: `There is no incident ${id}.` }));
        h1.textContent = "Incident not found";
        alive = false;
      } else {
        loadAlert.textContent = e.message;
        loadAlert.hidden = false;
      }
      return false;
    }
  }

  // Comments, timeline and the tracker state.
  async function loadSide() {
    const jobs = [
      get(`/api/incidents/${id}/comments?per_page=200`).then((r) => {
        if (!alive) return;
        fill(comments, r.comments.length ? r.comments.map((c) =>
          h("li.comment", null,
            h("div.meta", null, h("strong", { text: c.author }), " · ", timeEl(c.created_at)),
            h("p.body", { text: c.body })))
          : h("li.muted", { text: "No comments yet." }));
      }),
      get(`/api/incidents/${id}/timeline?per_page=1000`).then((r) => {
        if (!alive) return;
        fill(timeline, r.events.slice().reverse().map((ev) => {
          const [title, detail] = describe(ev);
          return h("li", { "data-type": ev.type },
            h("div.meta", null, h("strong", { text: title }), " · ", h("span", { text: ev.actor }), " · ", timeEl(ev.created_at)),
            detail ? h("p.body", { text: detail }) : null);
        }));
        if (r.total > r.events.length) timeline.append(h("li.muted", { text: `Showing the first ${r.events.length} of ${r.total} events.` }));
      }),
      get(`/api/incidents/${id}/issue`).then((r) => { if (alive) renderTracker(r); }),
    ];
    const rs = await Promise.allSettled(jobs);
    const bad = rs.find((x) => x.status === "rejected" && !(x.reason instanceof ApiError && x.reason.status === 401));
    if (bad && alive) {
      loadAlert.textContent = bad.reason.message;
      loadAlert.hidden = false;
    }
  }

  // Is a tracker configured? (GET /api/settings/tracker is open to viewers.)
  get("/api/settings/tracker").then((r) => {
    trackerProvider = (r.setting && r.setting.value && r.setting.value.provider) || "none";
    if (alive) renderTracker(null);
  }).catch(() => {});

  const refresh = async () => {
    if (await loadIncident()) loadSide();
  };
  const later = debounce(refresh, 50);
  const unsub = subscribe((msg) => {
    if (concerns(msg, id)) later();
  });

  refresh();
  return {
    refresh() { refresh(); if (pb) pb.refresh(); },
    unmount() {
      alive = false;
      unsub();
      later.cancel();
      clearInterval(slaTimer);
      if (pb) pb.unmount();
    },
  };
}
