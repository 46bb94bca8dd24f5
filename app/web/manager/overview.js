// Site overview and drill-down site → area → meter, with live power or flow per resource.
import { get, live, pageUrl, query, site } from "./connection.js";
import { FLOW_LABEL, RESOURCE_LABEL, fmt, localTime } from "./format.js";
import { card, el, figure, main, setStatus, table } from "./render.js";

const FLOWS = ["grid_import", "pv", "grid_export", "consumption", "feeders", "gas", "water", "water_reuse", "production"];

// a meter's rate is its canonical quantity per hour: kW for electricity, m³/h, unit/h
function rateUnit(meter) {
  if (["gas", "water", "water_reuse"].includes(meter.resource)) return "m³/h";
  if (meter.resource === "production") return "unit/h";
  return "kW";
}

function children(info, parent) { return info.areas.filter((a) => a.parent === parent); }

function crumbs(info, areaId, meterId) {
  const trail = [];
  let current = areaId;
  while (current) { const a = info.areas.find((x) => x.id === current); trail.unshift(a); current = a.parent; }
  const link = (text, params) => el("a", { href: pageUrl("overview", params), dataset: { crumb: text } }, text);
  return el("div", { class: "crumbs" }, link(info.name, {}), trail.map((a) => [" › ", link(a.name, { area: a.id })]), meterId ? [" › ", el("span", {}, meterId)] : null);
}

function powerCards(snap) {
  return el("div", { class: "cards", id: "live" }, FLOWS.filter((f) => snap.power[f]).map((f) => {
    const p = snap.power[f];
    return card(FLOW_LABEL[f] + (p.stale ? " (stale)" : ""), figure(`power.${f}`, p.value, fmt(p.value, 1), p.unit));
  }));
}

async function areaRows(info, areas) {
  const results = await Promise.all(areas.map((a) => get(`/api/v1/sites/${encodeURIComponent(site)}/areas/${encodeURIComponent(a.id)}/figures`).catch(() => null)));
  const rows = areas.map((a, i) => {
    const snap = results[i];
    const cells = FLOWS.map((f) => {
      const p = snap && snap.power[f];
      return el("td", {}, p ? figure(`area.${a.id}.${f}`, p.value, fmt(p.value, 1), p.unit) : "—");
    });
    return el("tr", { class: "link", dataset: { area: a.id }, onclick: () => { location.href = pageUrl("overview", { area: a.id }); } }, el("td", {}, a.name), cells);
  });
  return table(["Area", ...FLOWS.map((f) => FLOW_LABEL[f])], rows, { id: "areas" });
}

function meterRows(info, meters, health) {
  const byId = Object.fromEntries(health.map((h) => [h.meter, h]));
  return table(["Meter", "Resource", "Rate", "Last reading"], meters.map((m) => {
    const h = byId[m.id] || {};
    return el("tr", { class: "link", dataset: { meter: m.id }, onclick: () => { location.href = pageUrl("overview", { meter: m.id, area: m.area }); } },
      el("td", {}, m.name), el("td", {}, RESOURCE_LABEL[m.resource] || m.resource),
      el("td", {}, figure(`meter.${m.id}.rate_per_h`, h.rate_per_h, fmt(h.rate_per_h, 1), rateUnit(m))),
      el("td", {}, localTime(h.last_reading_at, info.timezone)));
  }), { id: "meters" });
}

function subtree(info, areaId) {
  const out = new Set([areaId]);
  let grew = true;
  while (grew) { grew = false; for (const a of info.areas) if (a.parent && out.has(a.parent) && !out.has(a.id)) { out.add(a.id); grew = true; } }
  return out;
}

export async function render(info) {
  const areaId = query.get("area");
  const meterId = query.get("meter");
  const health = await get(`/api/v1/sites/${encodeURIComponent(site)}/meter-health`);
  if (meterId) return renderMeter(info, areaId, meterId, health);
  const title = areaId ? info.areas.find((a) => a.id === areaId).name : info.name;
  const liveBox = el("div", { id: "live-box" }, el("p", { class: "muted" }, "connecting…"));
  const inArea = areaId ? subtree(info, areaId) : null;
  const meters = info.meters.filter((m) => !inArea || inArea.has(m.area));
  const sub = children(info, areaId || null);
  main(
    crumbs(info, areaId, null),
    el("h1", { dataset: { scope: areaId || "site" } }, title),
    el("h2", {}, "Live power and flow"), liveBox,
    el("h2", {}, areaId ? "Sub-areas" : "Areas"), sub.length ? await areaRows(info, sub) : el("p", { class: "muted" }, "no sub-areas"),
    el("h2", {}, "Meters"), meterRows(info, meters, health),
    el("p", {}, el("a", { href: pageUrl("history", { area: areaId }) }, "History of this scope →")),
  );
  const path = `/api/v1/live/sites/${encodeURIComponent(site)}` + (areaId ? `/areas/${encodeURIComponent(areaId)}` : "");
  const initial = await get(path.replace("/api/v1/live/sites/", "/api/v1/sites/") + "/figures");
  const show = (snap) => {
    liveBox.replaceChildren(powerCards(snap));
    liveBox.dataset.generatedAt = snap.generated_at;
    const age = snap.freshness.age_s;
    if (age !== null && age > 180) setStatus("stale", `stale: newest reading ${Math.round(age)} s old`);
    else setStatus("live", `live · ${localTime(snap.generated_at, info.timezone)}`);
  };
  show(initial);
  live(path, show, (state) => { if (state !== "live") setStatus("stale", state); });
}

async function renderMeter(info, areaId, meterId, health) {
  const meter = info.meters.find((m) => m.id === meterId);
  const h = health.find((x) => x.meter === meterId) || {};
  const events = await get(`/api/v1/meters/${encodeURIComponent(meterId)}/events`);
  main(
    crumbs(info, areaId || meter.area, meterId),
    el("h1", { dataset: { scope: "meter" } }, meter.name),
    el("div", { class: "cards" },
      card("Rate (last interval)", figure("meter.rate_per_h", h.rate_per_h, fmt(h.rate_per_h, 2), rateUnit(meter))),
      card("Last value", figure("meter.last_value", h.last_value, fmt(h.last_value, 2), meter.unit)),
      card("Last reading", el("span", { class: "num" }, localTime(h.last_reading_at, info.timezone))),
      card("Register events", figure("meter.events", h.events, String(h.events ?? "—"))),
      card("Dead letters", figure("meter.dead_letters", h.dead_letters, String(h.dead_letters ?? "—")))),
    el("h2", {}, "Register events"),
    table(["Time", "Kind", "Detail"], events.map((e) => el("tr", {}, el("td", {}, localTime(e.time, info.timezone)), el("td", {}, e.kind), el("td", {}, e.detail)))),
    el("p", {}, el("a", { href: pageUrl("history", { meter: meterId, zoom: "minute" }) }, "History of this meter →")),
  );
  setStatus(h.stale ? "stale" : "live", h.stale ? "meter silent" : "live");
}
