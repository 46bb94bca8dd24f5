// Alerts: filter, acknowledge, resolve with a note.
import { downloadUrl, get, post, query, site } from "./connection.js";
import { fmt, localTime } from "./format.js";
import { adminBox } from "./admin.js";
import { el, figure, main, setStatus, table } from "./render.js";

const filters = { status: query.get("status") || "active", kind: query.get("kind") || "", severity: query.get("severity") || "" };

async function act(id, action, note, info) {
  try {
    await post(`/api/v1/alerts/${id}/${action}`, { by: "energy manager", note: note || undefined });
    await show(info);
  } catch (error) {
    setStatus("error", error.status === 401 || error.status === 403 ? "an admin token is needed to change alerts" : error.message);
  }
}

function row(a, info) {
  const note = el("input", { placeholder: "note", dataset: { note: a.id } });
  return el("tr", { dataset: { alert: String(a.id), status: a.status } },
    el("td", {}, figure(`alert.${a.id}.id`, a.id, String(a.id))), el("td", {}, a.severity), el("td", {}, a.kind), el("td", {}, a.status),
    el("td", {}, a.meter_id || a.area_id || ""), el("td", {}, a.message),
    el("td", {}, figure(`alert.${a.id}.observed`, a.observed, fmt(a.observed, 1), a.unit || "")),
    el("td", {}, localTime(a.opened_at, info.timezone)),
    el("td", {}, a.status === "resolved" ? (a.resolution_note || "") : [
      a.status === "open" ? el("button", { dataset: { ack: a.id }, onclick: () => act(a.id, "acknowledge", note.value, info) }, "Acknowledge") : null,
      note, el("button", { dataset: { resolve: a.id }, onclick: () => { if (!note.value.trim()) { setStatus("error", "a note is needed to resolve"); return; } act(a.id, "resolve", note.value, info); } }, "Resolve")]));
}

async function show(info) {
  const alerts = await get("/api/v1/alerts", { site, status: filters.status, kind: filters.kind, severity: filters.severity, limit: 500 });
  const select = (name, options) => el("label", {}, name, el("select", { id: `filter-${name}`, onchange: (e) => { filters[name] = e.target.value; show(info); } },
    options.map((o) => el("option", { value: o, selected: o === filters[name] }, o || "any"))));
  main(
    el("h1", { dataset: { count: String(alerts.length) } }, `Alerts (${alerts.length})`),
    adminBox(() => show(info)),
    el("div", { class: "toolbar" }, select("status", ["active", "open", "acknowledged", "resolved", ""]), select("severity", ["", "info", "warning", "critical"]),
      select("kind", ["", "spike", "offline", "pv_shortfall", "register_event"]),
      el("a", { id: "export-csv", href: downloadUrl(`/api/v1/sites/${encodeURIComponent(site)}/export/alerts.csv`), download: "" }, "CSV")),
    table(["Id", "Severity", "Kind", "Status", "Where", "Message", "Observed", "Opened", "Action"], alerts.map((a) => row(a, info)), { id: "alerts" }),
  );
  setStatus("live", `${alerts.length} alerts`);
}

export async function render(info) { await show(info); }
