// Meter health: last reading, silence, register events and dead letters per meter.
import { adminToken, downloadUrl, get, pageUrl, site } from "./connection.js";
import { RESOURCE_LABEL, fmt, localTime } from "./format.js";
import { adminBox } from "./admin.js";
import { el, figure, main, setStatus, table } from "./render.js";

async function show(info) {
  const health = await get(`/api/v1/sites/${encodeURIComponent(site)}/meter-health`);
  let letters = null;
  if (adminToken()) { try { letters = await get("/api/v1/rejected", { limit: 50 }); } catch (_) { letters = null; } }
  const stale = health.filter((h) => h.stale).length;
  main(
    el("h1", {}, "Meter health"),
    el("p", {}, figure("health.stale", stale, String(stale)), ` of ${health.length} meters silent · `,
      el("a", { id: "export-csv", href: downloadUrl(`/api/v1/sites/${encodeURIComponent(site)}/export/health.csv`), download: "" }, "CSV")),
    table(["Meter", "Area", "Resource", "Last reading", "Silent (s)", "Rate /h", "Register events", "Dead letters"], health.map((h) => el("tr", { dataset: { meter: h.meter, stale: String(h.stale) } },
      el("td", {}, el("a", { href: pageUrl("overview", { meter: h.meter, area: h.area }) }, h.name)), el("td", {}, h.area), el("td", {}, RESOURCE_LABEL[h.resource] || h.resource),
      el("td", {}, localTime(h.last_reading_at, info.timezone)), el("td", {}, figure(`health.${h.meter}.silent_s`, h.silent_s, fmt(h.silent_s, 0))),
      el("td", {}, figure(`health.${h.meter}.rate_per_h`, h.rate_per_h, fmt(h.rate_per_h, 1))),
      el("td", {}, figure(`health.${h.meter}.events`, h.events, String(h.events))), el("td", {}, figure(`health.${h.meter}.dead_letters`, h.dead_letters, String(h.dead_letters))))), { id: "health" }),
    el("h2", {}, "Latest dead letters"),
    adminBox(() => show(info)),
    letters === null ? el("p", { class: "muted" }, "the payloads of dead letters need the admin token") :
      table(["Received", "Meter", "Reason", "Detail"], letters.map((r) => el("tr", {}, el("td", {}, localTime(r.received_at, info.timezone)), el("td", {}, r.meter_id || ""), el("td", {}, r.reason), el("td", {}, r.detail)))),
  );
  setStatus(stale ? "stale" : "live", stale ? `${stale} meters silent` : "all meters reporting");
}

export async function render(info) { await show(info); }
