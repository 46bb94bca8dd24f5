// Energy flow: grid import and PV → areas → sub-meters, with export and the unmetered remainder.
import { downloadUrl, get, query, site } from "./connection.js";
import { sankey } from "./charts.js";
import { fmt, localTime } from "./format.js";
import { card, el, figure, main, setStatus, table } from "./render.js";

export async function render(info) {
  const extra = { period: query.get("period") || (query.get("start") ? null : "today"), start: query.get("start"), end: query.get("end") };
  const flow = await get(`/api/v1/sites/${encodeURIComponent(site)}/energy-flow`, extra);
  const index = Object.fromEntries(flow.nodes.map((n, i) => [n.id, i]));
  const label = Object.fromEntries(flow.nodes.map((n) => [n.id, n.label]));
  const t = flow.totals;
  main(
    el("h1", {}, "Energy flow"),
    el("p", { class: "muted" }, `${localTime(flow.start, info.timezone)} – ${localTime(flow.end, info.timezone)} site time, kWh · `,
      el("a", { id: "export-csv", href: downloadUrl(`/api/v1/sites/${encodeURIComponent(site)}/export/flow.csv`, { start: flow.start, end: flow.end }), download: "" }, "CSV")),
    el("div", { class: "cards" }, ["grid_import", "pv", "export", "consumption", "metered", "unmetered"].map((k) => card(k.replace("_", " "), figure(`flow.${k}`, t[k], fmt(t[k], 1), "kWh")))),
    el("div", { id: "sankey", class: "chart", style: "height: 620px" }),
    el("h2", {}, "Links"),
    table(["From", "To", "kWh"], flow.links.map((l, i) => el("tr", {}, el("td", {}, label[l.source]), el("td", {}, label[l.target]), el("td", {}, figure(`link.${l.source}.${l.target}`, l.kwh, fmt(l.kwh, 1)))))),
  );
  await sankey(document.getElementById("sankey"), flow.nodes.map((n) => n.label), flow.links.map((l) => index[l.source]), flow.links.map((l) => index[l.target]), flow.links.map((l) => l.kwh));
  setStatus("live", "from the day rollups");
}
