// gates.js — /gates: run a gate report (POST /api/gates/run, without creating
// incidents) and show its verdict per agent.

import { post } from "./api.js";
import { h, fill, field, heading, alertBox, showError, clearErrors, atLeast } from "./ui.js";

const fmt = (n) => (typeof n === "number" ? (Number.isInteger(n) ? String(n) : n.toFixed(3).replace(/\.?0+$/, "")) : "—");

function agentBlock(a) {
  const v = a.violations || [];
  return h("section.card.inner.agent", { "data-testid": "gate-agent", "data-agent": a.agent },
    h("h3", null, h("span", { text: a.agent }), " ",
      h("span", { class: "badge " + (a.passed ? "pass" : "fail"), text: a.passed ? "passed" : "failed" })),
    v.length
      ? h("div.table-wrap", null, h("table.violations", null,
        h("caption.sr-only", { text: "Violations of " + a.agent }),
        h("thead", null, h("tr", null, ["Budget", "Threshold", "Actual", "Severity", "Message"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", null, v.map((x) => h("tr", { "data-testid": "violation" },
          h("td", { "data-label": "Budget", text: x.budget_type }),
          h("td", { "data-label": "Threshold", text: fmt(x.threshold) }),
          h("td", { "data-label": "Actual", text: fmt(x.actual) }),
          h("td", { "data-label": "Severity" }, h("span", { class: "badge gs-" + x.severity, text: x.severity })),
          h("td", { "data-label": "Message", text: x.message }))))))
      : h("p.ok", { text: "All budgets met" }));
}

export function mount(main, ctx) {
  ctx.setTitle("Gates");
  const canRun = atLeast(ctx.session.role, "responder");
  const agent = h("input", { type: "text", autocomplete: "off", name: "agent", placeholder: "all agents" });
  const lookback = h("input", { type: "number", min: 1, step: 1, name: "lookback_days", value: "7" });
  const baseline = h("input", { type: "number", min: 1, step: 1, name: "baseline_days", value: "14" });
  const controls = { agent, lookback_days: lookback, baseline_days: baseline };
  const alert = alertBox();
  const run = h("button.primary", { type: "submit", text: "Run gate report" });
  const report = h("div", { "data-testid": "gate-report", hidden: true, "aria-live": "polite" });
  const form = h("form.card", { novalidate: true, "aria-label": "Gate report" },
    h("div.form-grid", null,
      field("Agent", agent, "Empty: every agent with a budget."),
      field("Lookback days", lookback),
      field("Baseline days", baseline)),
    alert,
    canRun ? h("div.actions", null, run) : h("p.muted", { text: `Running a gate report needs the responder role; yours is ${ctx.session.role}.` }));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!canRun) return;
    clearErrors(form, alert);
    const num = (el) => (el.value === "" ? undefined : Number(el.value));
    const body = { lookback_days: num(lookback), baseline_days: num(baseline), create_incidents: false };
    if (agent.value.trim()) body.agent = agent.value.trim();
    run.disabled = true;
    try {
      const r = await post("/api/gates/run", body);
      const s = r.summary || {};
      fill(report,
        h("p.summary", null,
          h("strong", { text: `${s.agents} agent${s.agents === 1 ? "" : "s"}` }), ": ",
          h("span", { class: "badge pass", text: `${s.passed} passed` }), " ",
          h("span", { class: "badge fail", text: `${s.failed} failed` }),
          r.window ? ` · window ${r.window.from} → ${r.window.to}, baseline ${r.baseline.from} → ${r.baseline.to}` : ""),
        (r.agents || []).length ? r.agents.map(agentBlock) : h("p.muted", { text: "No agent has a budget." }));
      report.hidden = false;
    } catch (e) {
      report.hidden = true;
      showError(e, controls, alert);
    } finally {
      run.disabled = false;
    }
  });

  fill(main, h("section.view", null, heading("Gates"),
    h("p.muted", { text: "Evaluate the budgets over the daily metrics. No incident is created from here." }),
    form, report));
  return { unmount() {} };
}
