// The connection: a websocket for live snapshots, REST polling while it is down, and the
// refused-token case. Tells the page through the two handlers given to startConnection().
import { body, figure, hideMessage, $, showMessage, site, state, token, tokenHelp } from "./dom.js";

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;
export const POLL_MS = 3000;        // REST poll while the websocket is down
const AUTH_RETRY_MS = 5000;         // refused token: ask again (a restarted demo keeps it)
const WATCHDOG_MS = 8000;           // the server sends a snapshot every second
const FETCH_TIMEOUT_MS = 5000;

let handlers = { snapshot: () => {}, changed: () => {} };

const CONNECTION_TEXT = {
  connecting: ["◌", "Connecting"],
  live: ["●", "Live"],
  stale: ["◐", "Not live"],
  polling: ["◐", "Reconnecting · polling"],
  down: ["✕", "Offline · reconnecting"],
  error: ["✕", "Not authorised"],
};

// the pill says what the one screen state says (see screenState() in status.js)
export function showPill(name) {
  const pill = figure("connection");
  pill.dataset.value = name;
  const [icon, text] = CONNECTION_TEXT[name];
  $(".conn-icon", pill).textContent = icon;
  $(".conn-text", pill).textContent = text;
}

function setConnection(name) {
  body.dataset.connection = name;
  handlers.changed();
}

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/api/v1/live/sites/${encodeURIComponent(site)}` +
    `?token=${encodeURIComponent(token)}`;
}

function connect() {
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = null;
  if (state.authFailed || state.ws) return;
  let sock;
  try {
    sock = new WebSocket(socketUrl());
  } catch (_) {
    socketDown();
    return;
  }
  state.ws = sock;
  armWatchdog();  // an upgrade that hangs counts as down too
  sock.onopen = () => {
    if (state.ws !== sock) return;
    state.wsOpen = true;
    armWatchdog();
  };
  sock.onmessage = (event) => {
    if (state.ws !== sock) return;
    armWatchdog();
    let data;
    try {
      data = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    if (data && data.type === "snapshot") {
      state.backoff = BACKOFF_MIN_MS;
      state.downSince = null;
      stopPolling();
      body.dataset.connection = "live";
      handlers.snapshot(data, "live");
    }
  };
  sock.onclose = () => {
    if (state.ws !== sock) return;
    socketDown();
  };
  sock.onerror = () => { /* onclose follows */ };
}

function armWatchdog() {
  clearTimeout(state.watchdogTimer);
  // a half-open connection (cable pulled, NAT timeout) may not fire onclose for minutes
  state.watchdogTimer = setTimeout(() => {
    const sock = state.ws;
    socketDown();
    if (sock) try { sock.close(); } catch (_) { /* already closing */ }
  }, WATCHDOG_MS);
}

function socketDown() {
  clearTimeout(state.watchdogTimer);
  state.ws = null;
  state.wsOpen = false;
  if (state.downSince === null) state.downSince = performance.now();
  if (!state.authFailed) {
    const delay = state.backoff * (0.8 + Math.random() * 0.4);
    state.backoff = Math.min(state.backoff * 2, BACKOFF_MAX_MS);
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(connect, delay);
  }
  startPolling();
  setConnection(state.authFailed ? "error" : pollFresh() ? "polling" : "down");
}

export function pollFresh() {
  return Boolean(state.last && state.last.via === "rest" &&
    performance.now() - state.last.receivedAt < POLL_MS * 2 + FETCH_TIMEOUT_MS);
}

function startPolling() {
  if (state.polling) return;
  state.polling = true;
  clearTimeout(state.pollTimer);
  state.pollTimer = setTimeout(poll, state.authFailed ? AUTH_RETRY_MS : POLL_MS);
}

function stopPolling() {
  state.polling = false;
  clearTimeout(state.pollTimer);
}

async function poll() {
  if (!state.polling) return;
  const ok = await fetchFigures();
  if (!state.polling) return;
  if (ok && !state.ws) {
    // the server answers again: try the websocket now rather than at the next backoff
    // (the backoff itself is reset only by a snapshot over the socket, so a proxy that
    // refuses websockets costs one attempt per poll, not a storm)
    connect();
  }
  if (ok && !state.wsOpen) setConnection("polling");
  state.pollTimer = setTimeout(poll, state.authFailed ? AUTH_RETRY_MS : POLL_MS);
}

async function fetchFigures() {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
  try {
    const response = await fetch(`/api/v1/sites/${encodeURIComponent(site)}/figures`, {
      headers: { Authorization: `Bearer ${token}` },
      cache: "no-store",
      signal: controller.signal,
    });
    if (response.status === 401 || response.status === 403) {
      refused();
      return false;
    }
    if (response.status === 404) {
      showMessage(`No site “${site}” on this server`,
        "Check the site id in this screen's address (<code>/wall/SITE?token=…</code>).");
      return false;
    }
    if (!response.ok) return false;
    const snap = await response.json();
    if (state.authFailed) {
      // accepted again (a restarted server with the same token): back to live by itself
      state.authFailed = false;
      hideMessage();
      connect();
    }
    handlers.snapshot(snap, "rest");
    return true;
  } catch (_) {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function refused() {
  state.authFailed = true;
  clearTimeout(state.reconnectTimer);
  setConnection("error");
  showMessage("This screen's access token was refused",
    "The <code>token=…</code> in this screen's address is not a valid read token. " +
    `${tokenHelp()} Checking again every ${AUTH_RETRY_MS / 1000} s.`);
  startPolling();
}

export function startConnection(onSnapshot, onChange) {
  handlers = { snapshot: onSnapshot, changed: onChange };
  state.backoff = BACKOFF_MIN_MS;
  if (!token) {
    state.authFailed = true;
    setConnection("error");
    showMessage("This wall screen needs its access token", tokenHelp());
    return;
  }
  setConnection("connecting");
  fetchFigures();
  connect();
}
