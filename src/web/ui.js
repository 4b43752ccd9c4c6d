// ui.js — DOM helpers. Data is only ever put into the page as text (textContent,
// attribute values), never parsed as HTML.

// h("tag.class", {attrs}, ...children): build an element.
// attrs: "class", "text", "on<event>" (listeners), boolean properties (disabled,
// checked, hidden) and any other attribute (set with setAttribute). A child may be a
// string/number (becomes a text node), a node, an array, or null/undefined/false.
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = (el.className ? el.className + " " : "") + v;
      else if (k === "text") el.textContent = String(v);
      else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "value" || k === "checked" || k === "disabled" || k === "hidden" || k === "selected") el[k] = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// Replace an element's children.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// ---- time ----

const UNITS = [
  ["d", 86400], ["h", 3600], ["m", 60], ["s", 1],
];

// A duration in seconds as "1d 4h", "2h 5m", "12m 30s", "45s": the two largest units.
export function duration(sec) {
  sec = Math.max(0, Math.round(sec));
  const parts = [];
  for (const [u, n] of UNITS) {
    if (sec >= n || (u === "s" && parts.length === 0)) {
      parts.push(Math.floor(sec / n) + u);
      sec %= n;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

// "just now", "5 min ago", "3 h ago", "2 d ago"; future times "in 5 min".
export function relative(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const diff = (Date.now() - t) / 1000;
  const a = Math.abs(diff);
  let s;
  if (a < 45) return "just now";
  if (a < 3600) s = Math.round(a / 60) + " min";
  else if (a < 86400) s = Math.round(a / 3600) + " h";
  else if (a < 86400 * 60) s = Math.round(a / 86400) + " d";
  else return absolute(iso).slice(0, 10);
  return diff >= 0 ? s + " ago" : "in " + s;
}

// "2026-12-08 01:30:36 UTC+01:00", in the browser's time zone. Written by hand: the
// first toLocaleString() of a page initialises the locale data, tens of milliseconds
// on the first render, and an unambiguous timestamp is what on-call needs anyway.
export function absolute(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = (n) => String(n).padStart(2, "0");
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? "UTC" : `UTC${off > 0 ? "+" : "-"}${p(Math.floor(Math.abs(off) / 60))}:${p(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${zone}`;
}

// <time datetime title>5 min ago</time>; refreshed by the interval below.
export function timeEl(iso) {
  if (!iso) return h("span.muted", { text: "—" });
  return h("time", { datetime: iso, title: absolute(iso), "data-rel": "", text: relative(iso) });
}

// Every relative time on the page is refreshed every 30 s.
setInterval(() => {
  for (const t of document.querySelectorAll("time[data-rel]")) {
    t.textContent = relative(t.getAttribute("datetime"));
  }
}, 30000);

// ---- badges ----

export const sevBadge = (sev) => h("span", { class: "badge sev-" + sev, text: sev });
export const statusBadge = (st) => h("span", { class: "badge st-" + st, text: st });
// Action statuses contain underscores; shown with spaces, classed with the raw word.
export const actionBadge = (st, attrs) =>
  h("span", { class: "badge act-" + st, text: st, ...attrs });

// ---- forms ----

let uid = 0;
export const nextId = (p) => p + "-" + ++uid;

// A labelled control: returns {row, input}. `control` is an element already built;
// `hint` optional help text (linked with aria-describedby).
export function field(labelText, control, hint) {
  if (!control.id) control.id = nextId("f");
  const kids = [h("label", { for: control.id, text: labelText }), control];
  if (hint) {
    const hid = control.id + "-hint";
    control.setAttribute("aria-describedby", hid);
    kids.push(h("small.hint", { id: hid, text: hint }));
  }
  const row = h("div.field", null, kids);
  control._row = row;
  return row;
}

// Field errors: message next to the control, aria-invalid on it.
export function setFieldError(control, message) {
  clearFieldError(control);
  control.setAttribute("aria-invalid", "true");
  const id = control.id + "-err";
  const err = h("p.field-error", { id, "data-testid": "field-error", text: message });
  const prev = control.getAttribute("aria-describedby");
  control.setAttribute("aria-describedby", prev ? prev + " " + id : id);
  (control._row || control.parentNode).appendChild(err);
}

export function clearFieldError(control) {
  control.removeAttribute("aria-invalid");
  const id = control.id + "-err";
  document.getElementById(id)?.remove();
  const d = (control.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== id);
  if (d.length) control.setAttribute("aria-describedby", d.join(" "));
  else control.removeAttribute("aria-describedby");
}

// Show an API error: on the control named by details.field (via `controls`, a map
// field name → control), else in `alertEl` (role="alert"). Returns nothing.
export function showError(err, controls, alertEl) {
  if (err && err.status === 401) return; // the app is already going to sign-in
  const f = err && err.field;
  const c = f && controls && (controls[f] || controls[f.replace(/^params\./, "")]);
  if (c) {
    setFieldError(c, err.message);
    c.focus();
  } else if (alertEl) {
    alertEl.textContent = (err && err.message) || String(err);
    alertEl.hidden = false;
  }
}

export function clearErrors(form, alertEl) {
  for (const c of form.querySelectorAll("[aria-invalid]")) clearFieldError(c);
  if (alertEl) {
    alertEl.textContent = "";
    alertEl.hidden = true;
  }
}

export const alertBox = () => h("p.alert", { role: "alert", hidden: true });

// Run `fn` at most once per `ms`, after the last call.
export function debounce(fn, ms) {
  let t = 0;
  const d = (...a) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
  d.cancel = () => clearTimeout(t);
  return d;
}

// throttle(fn, ms): fn at most once per ms; a call inside the interval runs once at
// its end (trailing), so the last change is never lost.
export function throttle(fn, ms) {
  let last = -Infinity;
  let t = 0;
  const d = () => {
    const wait = last + ms - performance.now();
    if (wait <= 0) {
      last = performance.now();
      fn();
    } else if (!t) {
      t = setTimeout(() => {
        t = 0;
        last = performance.now();
        fn();
      }, wait);
    }
  };
  d.cancel = () => {
    clearTimeout(t);
    t = 0;
  };
  return d;
}

// The view heading: <h1 tabindex="-1">.
export const heading = (text) => h("h1", { tabindex: "-1", text });

export const ROLES = ["viewer", "responder", "approver", "admin"];
export const atLeast = (role, min) => ROLES.indexOf(role) >= ROLES.indexOf(min);

// Re-render `container` with fn() without losing keyboard focus: the focused element's
// data-fk key is looked up again afterwards (live refreshes rebuild lists).
export function keepFocus(container, fn) {
  const a = document.activeElement;
  const key = a && a !== document.body && container.contains(a) ? a.getAttribute("data-fk") : null;
  fn();
  if (!key) return;
  const el = container.querySelector(`[data-fk="${CSS.escape(key)}"]`);
  if (el && el !== document.activeElement) el.focus({ preventScroll: true });
}
