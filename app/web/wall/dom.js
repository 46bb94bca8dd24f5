// The page's shared state and DOM helpers: every figure element carries data-figure="name"
// and data-value="raw number" (the API's number, unrounded; "" when the API has none).
import { mass } from "./format.js";

const params = new URLSearchParams(location.search);
export const token = params.get("token") || "";
export const site = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop() || "");
export const body = document.body;

export const state = {
  ws: null,
  wsOpen: false,
  backoff: 0,
  reconnectTimer: null,
  watchdogTimer: null,
  pollTimer: null,
  polling: false,
  authFailed: false,
  downSince: null,      // performance.now() when the socket went down
  last: null,           // {snap, receivedAt, via}
  lastHour: null,       // {start, end, kg}: the hour before the current one, as last seen
  livePoints: [],       // [{t, values: {flow: number|null}}]
  chartDrawnAt: 0,
  startedAt: performance.now(),
};

export const $ = (selector, root = document) => root.querySelector(selector);
export const figure = (name) => $(`[data-figure="${name}"]`);

export function setFigure(name, value, text) {
  const node = figure(name);
  if (!node) return;
  node.dataset.value = value === null || value === undefined ? "" : String(value);
  if (node.textContent !== text) node.textContent = text;
}

export function setMass(name, kg) {
  const { text, unit } = mass(kg);
  setFigure(name, kg, text);
  const unitEl = $(`[data-unit-of="${name}"]`);
  if (unitEl) unitEl.textContent = unit;
  const node = figure(name);
  if (node) node.dataset.unit = unit;
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function showMessage(title, html) {
  const box = figure("message");
  $(".message-title", box).textContent = title;
  $(".message-text", box).innerHTML = html;
  box.hidden = false;
  body.dataset.state = "error";
}

export function hideMessage() {
  figure("message").hidden = true;
}

export function tokenHelp() {
  const example = `${location.origin}/wall/${encodeURIComponent(site)}?token=READ-TOKEN`;
  return `Open <code>${escapeHtml(example)}</code> — the read-only token is the one the ` +
    "administrator set as <code>GREENPULSE_READ_TOKEN</code> (the demo prints it, and " +
    "keeps it between runs).";
}
