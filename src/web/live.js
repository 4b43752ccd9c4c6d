// live.js — the tab's one EventSource on /api/sse/events, and a tiny pub/sub for views.
//
// Reconnects after an error with a backoff of 1 s doubling to 30 s, ±20 % jitter,
// resuming with ?last_event_id= (a new EventSource does not send Last-Event-ID by
// itself). The backoff resets when a `connected` message arrives.

// Every event type of the log (docs/events.md); EventSource needs one listener each.
const TYPES = [
  "incident_created", "incident_updated", "signal_suppressed", "sla_breached",
  "action_planned", "action_approved", "action_started", "action_executed",
  "action_rolled_back", "issue_delivered", "issue_failed", "settings_changed",
  "silence_created", "silence_ended", "token_created", "token_revoked", "audit_anchor",
];

const subscribers = new Set();
const stateSubscribers = new Set();
let es = null;
let lastId = null; // the newest event id seen (or the server's at connect time)
let delay = 1000;
let timer = 0;
let watchdog = 0;
let running = false;
let state = "disconnected";

// subscribe(fn): fn({type, id, data}) for each event, and {type: "reset"} on a reset.
// Returns the unsubscribe function.
export function subscribe(fn) {
  subscribers.add(fn);
  return () => subscribers.delete(fn);
}

// onState(fn): fn("live" | "disconnected") now and on every change.
export function onState(fn) {
  stateSubscribers.add(fn);
  fn(state);
  return () => stateSubscribers.delete(fn);
}

function setState(s) {
  if (s === state) return;
  state = s;
  for (const fn of stateSubscribers) fn(s);
}

function publish(msg) {
  for (const fn of [...subscribers]) {
    try {
      fn(msg);
    } catch (e) {
      // A broken view must not stop the others; report it without throwing.
      setTimeout(() => { throw e; });
    }
  }
}

// Heartbeats come every 15 s: 45 s of silence means the connection is dead even if
// the browser has not noticed.
function armWatchdog() {
  clearTimeout(watchdog);
  watchdog = setTimeout(() => fail(), 45000);
}

function open() {
  clearTimeout(timer);
  const url = "/api/sse/events" + (lastId !== null ? "?last_event_id=" + lastId : "");
  es = new EventSource(url, { withCredentials: false });
  armWatchdog();
  es.addEventListener("connected", (m) => {
    delay = 1000;
    setState("live");
    armWatchdog();
    try {
      const d = JSON.parse(m.data);
      if (lastId === null && Number.isInteger(d.last_event_id)) lastId = d.last_event_id;
    } catch { /* ignore */ }
  });
  es.addEventListener("heartbeat", armWatchdog);
  es.addEventListener("reset", (m) => {
    armWatchdog();
    try {
      const d = JSON.parse(m.data);
      if (Number.isInteger(d.newest_id)) lastId = d.newest_id;
    } catch { /* ignore */ }
    publish({ type: "reset", id: null, data: null });
  });
  for (const t of TYPES) {
    es.addEventListener(t, (m) => {
      armWatchdog();
      const id = Number(m.lastEventId);
      if (Number.isFinite(id) && id > 0) lastId = id;
      let data = null;
      try {
        data = JSON.parse(m.data);
      } catch { /* ignore */ }
      publish({ type: t, id, data });
    });
  }
  es.onerror = () => fail();
}

function fail() {
  clearTimeout(watchdog);
  if (es) {
    es.close();
    es = null;
  }
  setState("disconnected");
  if (!running) return;
  const jitter = 1 + (Math.random() * 0.4 - 0.2);
  const wait = Math.round(delay * jitter);
  delay = Math.min(delay * 2, 30000);
  clearTimeout(timer);
  timer = setTimeout(open, wait);
}

export function start() {
  if (running) return;
  running = true;
  delay = 1000;
  open();
}

export function stop() {
  running = false;
  clearTimeout(timer);
  clearTimeout(watchdog);
  if (es) {
    es.close();
    es = null;
  }
  setState("disconnected");
}

// Does an event concern incident `id`? (incident events carry the incident or its id;
// action and delivery events carry incident_id.)
export function concerns(msg, id) {
  const d = msg.data;
  if (!d) return false;
  if (msg.type === "incident_created") return d.id === id;
  if (d.incident && d.incident.id === id) return true;
  return d.incident_id === id;
}
