// silences.js — /silences: the list (active and future; optionally ended ones too),
// ending one, and a form to create one with a preview of what it would match.

import { get, post, del, qs } from "./api.js";
import { subscribe } from "./live.js";
import { h, fill, field, heading, alertBox, debounce, timeEl, showError, clearErrors, atLeast, sevBadge, statusBadge, keepFocus } from "./ui.js";
import { KINDS, select } from "./list.js";

export function mount(main, ctx) {
  ctx.setTitle("Silences");
  const canWrite = atLeast(ctx.session.role, "responder");
  let alive = true;

  const alert = alertBox();
  const showEnded = h("input", { type: "checkbox" });
  const tbody = h("tbody");
  const table = h("table.silences", { "data-testid": "silences" },
    h("caption.sr-only", { text: "Silences" }),
    h("thead", null, h("tr", null, ["Kind", "Key pattern", "Reason", "By", "Starts", "Ends", "Active"]
      .map((t) => h("th", { scope: "col", text: t })), h("th", { scope: "col" }, h("span.sr-only", { text: "End" })))),
    tbody);

  // ---- the form ----
  const kind = select(KINDS, "");
  const keyGlob = h("input", { type: "text", autocomplete: "off", name: "key_glob", placeholder: "budget:search-agent:*" });
  const reason = h("input", { type: "text", autocomplete: "off", name: "reason" });
  const dur = h("input", { type: "text", autocomplete: "off", name: "duration", value: "1h" });
  const controls = { kind, key_glob: keyGlob, reason, duration: dur };
  const formAlert = alertBox();
  const preview = h("div.preview", { "data-testid": "silence-preview", "aria-live": "polite", hidden: true });
  const previewBtn = h("button", { type: "button", text: "Preview" });
  const createBtn = h("button.primary", { type: "submit", text: "Create silence" });
  const form = h("form.card", { novalidate: true, "aria-labelledby": "ns-h" },
    h("h2", { id: "ns-h", text: "New silence" }),
    h("div.form-grid", null,
      field("Kind", kind),
      field("Key pattern", keyGlob, "A glob over the full key, e.g. budget:search-agent:*"),
      field("Reason", reason),
      field("Duration", dur, "e.g. 30m, 4h, 7d (at most 7 days)")),
    formAlert,
    h("div.actions", null, previewBtn, canWrite ? createBtn : null),
    canWrite ? null : h("p.muted", { text: `Your role (${ctx.session.role}) cannot create silences.` }),
    preview);

  previewBtn.addEventListener("click", async () => {
    clearErrors(form, formAlert);
    try {
      const r = await get(qs("/api/silences/preview", { key_glob: keyGlob.value, kind: kind.value }));
      const n = r.incidents.length;
      fill(preview,
        h("p", null, h("strong", { text: `Matches ${n} active incident${n === 1 ? "" : "s"}` }),
          n ? " (existing incidents are not touched)" : ""),
        n ? h("ul.plain", null, r.incidents.map((i) => h("li", null, sevBadge(i.severity), " ", statusBadge(i.status), " ",
          h("a", { href: "/incidents/" + i.id, text: i.summary })))) : null,
        h("p", { text: r.keys.length ? `Keys seen in the last 7 days (${r.keys.length}):` : "No keys seen in the last 7 days." }),
        r.keys.length ? h("ul.plain.keys", null, r.keys.map((k) => h("li", null, h("code", { text: k.key }), " ", h("small.muted", { text: k.kind })))) : null);
      preview.hidden = false;
    } catch (e) {
      showError(e, controls, formAlert);
    }
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!canWrite) return;
    clearErrors(form, formAlert);
    const body = { key_glob: keyGlob.value, reason: reason.value, duration: dur.value.trim() };
    if (kind.value) body.kind = kind.value;
    createBtn.disabled = true;
    try {
      await post("/api/silences", body);
      keyGlob.value = "";
      reason.value = "";
      dur.value = "1h";
      kind.value = "";
      preview.hidden = true;
      load();
    } catch (e) {
      showError(e, controls, formAlert);
    } finally {
      createBtn.disabled = false;
    }
  });

  fill(main, h("section.view", null,
    heading("Silences"),
    h("p.muted", { text: "A silence suppresses new signals that match it; existing incidents are never touched." }),
    alert,
    h("section.card", { "aria-label": "Silence list" },
      h("div.field.check", null, showEnded, h("label", { for: (showEnded.id = "show-ended"), text: "Include ended silences" })),
      h("div.table-wrap", null, table)),
    form));

  showEnded.addEventListener("change", () => load());

  function row(s) {
    let end = null;
    if (s.active && canWrite) {
      end = h("button.small", { type: "button", "data-fk": "end-" + s.id, text: "End" });
      end.addEventListener("click", async () => {
        end.disabled = true;
        try {
          await del("/api/silences/" + s.id);
          load();
        } catch (e) {
          end.disabled = false;
          showError(e, null, alert);
        }
      });
    }
    const m = s.matcher || {};
    return h("tr", { "data-testid": "silence-row", "data-silence-id": s.id },
      h("td", { "data-label": "Kind", text: m.kind || "any" }),
      h("td", { "data-label": "Key pattern" }, h("code", { text: m.key_glob })),
      h("td", { "data-label": "Reason", text: s.reason }),
      h("td", { "data-label": "By", text: s.created_by }),
      h("td", { "data-label": "Starts" }, timeEl(s.starts_at)),
      h("td", { "data-label": "Ends" }, timeEl(s.ends_at)),
      h("td", { "data-label": "Active" }, h("span", { class: "badge " + (s.active ? "on" : "off"), text: s.active ? "active" : Date.parse(s.starts_at) > Date.now() ? "future" : "ended" })),
      h("td", null, end));
  }

  let seq = 0;
  async function load() {
    const my = ++seq;
    try {
      const r = await get(qs("/api/silences", { all: showEnded.checked ? "true" : "", per_page: 200 }));
      if (!alive || my !== seq) return;
      alert.hidden = true;
      keepFocus(tbody, () => fill(tbody, r.silences.length ? r.silences.map(row)
        : h("tr", null, h("td.muted", { colspan: 8, text: "No silences." }))));
    } catch (e) {
      if (alive && my === seq) showError(e, null, alert);
    }
  }

  const later = debounce(load, 50);
  const unsub = subscribe((msg) => { if (msg.type.startsWith("silence_")) later(); });
  load();
  return { refresh: load, unmount() { alive = false; unsub(); later.cancel(); } };
}
