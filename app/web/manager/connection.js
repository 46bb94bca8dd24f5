// Talking to the GreenPulse API: the read token from ?token= (as the wall), an admin token
// kept in this tab's sessionStorage and sent only in the Authorization header.
const params = new URLSearchParams(location.search);
const parts = location.pathname.replace(/\/+$/, "").split("/");

export const readToken = params.get("token") || "";
export const site = decodeURIComponent(parts[2] || "");
export const page = decodeURIComponent(parts[3] || "overview");
export const query = params;

export function adminToken() { return sessionStorage.getItem("greenpulse-admin-token") || ""; }
export function setAdminToken(value) { sessionStorage.setItem("greenpulse-admin-token", value); }

export function pageUrl(name, extra = {}) {
  const q = new URLSearchParams();
  if (readToken) q.set("token", readToken);
  for (const [k, v] of Object.entries(extra)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  return `/manager/${encodeURIComponent(site)}/${name}?${q}`;
}

export function apiUrl(path, extra = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(extra)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  return q.toString() ? `${path}?${q}` : path;
}

// a download link carries the read token in the URL (a link cannot send a header)
export function downloadUrl(path, extra = {}) { return apiUrl(path, { ...extra, token: readToken }); }

async function call(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 15000);
  try {
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: controller.signal });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const detail = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : response.statusText;
      const error = new Error(`${response.status}: ${detail}`);
      error.status = response.status;
      throw error;
    }
    return data;
  } finally {
    clearTimeout(timer);
  }
}

export function get(path, extra = {}) { return call("GET", apiUrl(path, extra), undefined, adminToken() || readToken); }
export function post(path, body) { return call("POST", path, body, adminToken()); }

// live snapshots over the figures websocket; REST every few seconds while it is down
export function live(path, onSnapshot, onState) {
  let ws = null, stopped = false, backoff = 500, poll = null;
  const restPath = path.replace("/api/v1/live/sites/", "/api/v1/sites/").replace(/\/?$/, "") + "/figures";
  function startPolling() {
    if (poll) return;
    poll = setInterval(() => get(restPath).then(onSnapshot, () => onState("stale")), 3000);
  }
  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${proto}://${location.host}${path}?token=${encodeURIComponent(readToken)}`);
    ws.onopen = () => { backoff = 500; onState("live"); clearInterval(poll); poll = null; };
    ws.onmessage = (event) => { const data = JSON.parse(event.data); if (data.type === "snapshot") onSnapshot(data); };
    ws.onclose = () => { if (stopped) return; onState("reconnecting"); startPolling(); setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 10000); };
  }
  connect();
  return () => { stopped = true; clearInterval(poll); if (ws) ws.close(); };
}
