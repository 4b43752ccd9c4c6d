// api.js — the fetch wrapper. Same-origin cookie auth (the browser sends Origin on
// unsafe requests by itself); JSON in and out; errors as ApiError carrying the API's
// {error: {code, message, details: {field}}}.

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || "HTTP " + status);
    this.status = status;
    this.code = e.code || "http_" + status;
    this.details = e.details || {};
    this.field = this.details.field || null;
  }
}

let onUnauthorized = () => {};
// The app sets what a 401 does (back to sign-in).
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// request("GET", "/api/incidents", null, {quiet401: true})
export async function request(method, path, body, opts = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined && body !== null) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { error: { code: "network", message: "The server cannot be reached." } });
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && !opts.quiet401) onUnauthorized();
    throw err;
  }
  return data;
}

export const get = (path, opts) => request("GET", path, null, opts);
export const post = (path, body, opts) => request("POST", path, body === undefined ? {} : body, opts);
export const del = (path, opts) => request("DELETE", path, null, opts);

// Build "path?a=1&b=2" from an object, skipping empty values.
export function qs(path, params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") u.set(k, String(v));
  }
  const s = u.toString();
  return s ? path + "?" + s : path;
}
