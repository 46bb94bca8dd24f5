// History at any zoom: energy per resource, CO₂ (location, market) and cost, with a comparison.
import { downloadUrl, get, query, site } from "./connection.js";
import { bars } from "./charts.js";
import { RESOURCE_LABEL, fmt, localTime } from "./format.js";
import { card, el, figure, main, setStatus, table } from "./render.js";

const ZOOMS = ["minute", "15min", "hour", "day", "week", "month", "year"];
const state = { zoom: query.get("zoom") || "hour", start: query.get("start"), end: query.get("end"), period: query.get("period"), compare: query.get("compare") || "", area: query.get("area"), meter: query.get("meter") };

function params(extra = {}) {
  return { zoom: state.zoom, start: state.start, end: state.end, period: state.period, compare: state.compare, area: state.area, meter: state.meter, ...extra };
}

async function load() {
  try {
    return await get(`/api/v1/sites/${encodeURIComponent(site)}/history`, params());
  } catch (error) {
    if (error.status !== 422 || !state.start) throw error;
    state.start = null;  // too long for this zoom: its default range up to the same end
    return get(`/api/v1/sites/${encodeURIComponent(site)}/history`, params());
  }
}

function totals(data, prefix) {
  const t = data.totals;
  const cur = data.cost_info.currency || "";
  return el("div", { class: "cards", id: `${prefix}-totals` },
    Object.entries(t.energy).map(([r, v]) => card(RESOURCE_LABEL[r] || r, figure(`${prefix}.energy.${r}`, v, fmt(v, 1), data.units[r]))),
    card("CO₂ location", figure(`${prefix}.co2_location_kg`, t.co2_location_kg, fmt(t.co2_location_kg, 1), "kg")),
    card("CO₂ market", figure(`${prefix}.co2_market_kg`, t.co2_market_kg, fmt(t.co2_market_kg, 1), "kg")),
    card(`Cost${data.cost_info.illustrative ? " (illustrative)" : ""}`, figure(`${prefix}.cost`, t.cost, fmt(t.cost, 2), cur)));
}

function draw(data, info) {
  const x = data.buckets.map((b) => b.start);
  const kwh = Object.keys(data.units).filter((r) => data.units[r] === "kWh");
  const m3 = Object.keys(data.units).filter((r) => data.units[r] === "m3");
  const other = data.comparison;
  const shifted = other ? x.slice(0, other.buckets.length) : [];
  if (kwh.length) bars(document.getElementById("chart-kwh"), x, kwh.map((r) => ({ name: RESOURCE_LABEL[r], values: data.buckets.map((b) => b.energy[r]) })), { yTitle: "kWh" });
  if (m3.length) bars(document.getElementById("chart-m3"), x, m3.map((r) => ({ name: RESOURCE_LABEL[r], values: data.buckets.map((b) => b.energy[r]) })), { yTitle: "m³" });
  bars(document.getElementById("chart-co2"), x, [
    { name: "CO₂ location", values: data.buckets.map((b) => b.co2_location_kg) },
    { name: "CO₂ market", values: data.buckets.map((b) => b.co2_market_kg) },
  ], { yTitle: "kg", lines: other ? [{ name: `location, ${other.kind.replace("_", " ")}`, x: shifted, values: other.buckets.map((b) => b.co2_location_kg) }] : [] });
  bars(document.getElementById("chart-cost"), x, [{ name: `Cost ${data.cost_info.currency || ""}`, values: data.buckets.map((b) => (b.cost === null ? null : Number(b.cost))) }],
    { yTitle: data.cost_info.currency || "", lines: other ? [{ name: `cost, ${other.kind.replace("_", " ")}`, x: shifted, values: other.buckets.map((b) => (b.cost === null ? null : Number(b.cost))) }] : [] });
}

function bucketTable(data, info) {
  const resources = Object.keys(data.units);
  const withDate = !["minute", "15min", "hour"].includes(data.zoom) || true;
  return table(["Start (site time)", ...resources.map((r) => `${RESOURCE_LABEL[r] || r} (${data.units[r]})`), "CO₂ loc kg", "CO₂ mkt kg", `Cost ${data.cost_info.currency || ""}`],
    data.buckets.map((b, i) => el("tr", { dataset: { bucket: b.start } },
      el("td", {}, localTime(b.start, info.timezone, withDate)),
      resources.map((r) => el("td", {}, figure(`bucket.${i}.${r}`, b.energy[r], fmt(b.energy[r], 1)))),
      el("td", {}, figure(`bucket.${i}.co2_location_kg`, b.co2_location_kg, fmt(b.co2_location_kg, 1))),
      el("td", {}, figure(`bucket.${i}.co2_market_kg`, b.co2_market_kg, fmt(b.co2_market_kg, 1))),
      el("td", {}, figure(`bucket.${i}.cost`, b.cost, fmt(b.cost, 2))))), { id: "buckets" });
}

async function show(info) {
  setStatus("loading", "loading…");
  const data = await load();
  const scope = data.meter ? `meter ${data.meter}` : data.area ? `area ${data.area}` : "site";
  const exportParams = { zoom: data.zoom, start: data.start, end: data.end, area: data.area, meter: data.meter };
  const month = new Intl.DateTimeFormat("en-CA", { timeZone: info.timezone, year: "numeric", month: "2-digit" }).format(new Date(data.end) - 1);
  main(
    el("h1", { dataset: { zoom: data.zoom, buckets: String(data.buckets.length), start: data.start, end: data.end } }, `History · ${scope} · ${data.zoom}`),
    el("div", { class: "toolbar" }, "Zoom:", ZOOMS.map((z) => el("button", { "aria-pressed": String(z === data.zoom), dataset: { zoom: z }, onclick: () => { state.zoom = z; state.period = null; state.start = data.start; state.end = data.end; show(info); } }, z)),
      " Period:", [["today", "day"], ["this_week", "hour"], ["this_month", "day"], ["this_year", "month"]].map(([p, z]) => el("button", { dataset: { period: p }, onclick: () => { state.period = p; state.zoom = z; state.start = state.end = null; show(info); } }, p.replace("_", " "))),
      " Compare:", el("select", { id: "compare", onchange: (e) => { state.compare = e.target.value; state.period = null; state.start = data.start; state.end = data.end; show(info); } },
        [["", "none"], ["previous", "previous period"], ["year_before", "same period last year"]].map(([v, t]) => el("option", { value: v, selected: v === (data.comparison ? data.comparison.kind : "") }, t)))),
    el("p", { class: "muted" }, `${localTime(data.start, info.timezone)} – ${localTime(data.end, info.timezone)} site time · source ${data.source} · factors: ${[...new Set([...data.factor_ids.co2_location_kg, ...data.factor_ids.co2_market_kg])].join(", ") || "none"} · tariffs: ${data.cost_info.schedule_ids.join(", ") || "none"}`),
    totals(data, "total"),
    data.comparison ? [el("h2", {}, `Compared with ${data.comparison.kind.replace("_", " ")} (${localTime(data.comparison.start, info.timezone)} – ${localTime(data.comparison.end, info.timezone)})`), totals({ ...data.comparison, units: data.units }, "comparison")] : null,
    el("p", { class: "toolbar" }, "Export:",
      el("a", { id: "export-csv", href: downloadUrl(`/api/v1/sites/${encodeURIComponent(site)}/export/history.csv`, exportParams), download: "" }, "CSV"),
      el("a", { id: "export-xlsx", href: downloadUrl(`/api/v1/sites/${encodeURIComponent(site)}/export/history.xlsx`, exportParams), download: "" }, "XLSX"),
      el("a", { id: "report-html", href: downloadUrl(`/api/v1/sites/${encodeURIComponent(site)}/export/monthly/${month}.html`), target: "_blank" }, `Monthly report ${month} (HTML)`),
      el("a", { id: "report-pdf", href: downloadUrl(`/api/v1/sites/${encodeURIComponent(site)}/export/monthly/${month}.pdf`), download: "" }, "(PDF)")),
    el("div", { class: "grid2" }, el("div", { id: "chart-kwh", class: "chart" }), el("div", { id: "chart-m3", class: "chart" }), el("div", { id: "chart-co2", class: "chart" }), el("div", { id: "chart-cost", class: "chart" })),
    el("h2", {}, "Buckets"), bucketTable(data, info),
  );
  draw(data, info);
  setStatus("live", `as of ${localTime(new Date().toISOString(), info.timezone)}`);
  document.body.dataset.ready = "true";
}

export async function render(info) { await show(info); }
