// The power chart: 24 hourly averages, then the live points of the current hour, as SVG.
import { fmt, siteTime } from "./format.js";
import { figure, state } from "./dom.js";
import { zone } from "./clock.js";
import { flowStale } from "./status.js";

const LIVE_POINT_EVERY_MS = 5000; // live chart points, at most one per this interval (server time)

const SERIES = [
  { flow: "consumption", label: "Consumption", color: "#f4f7f9", width: 4, dash: "" },
  { flow: "grid_import", label: "Grid import", color: "#ffc83d", width: 4, dash: "14 8" },
  { flow: "pv", label: "Rooftop PV", color: "#5ee38f", width: 4, dash: "" },
  { flow: "grid_export", label: "Export", color: "#7cc4ff", width: 3, dash: "3 7" },
];
const HOUR_MS = 3600 * 1000;
const MAX_LIVE_POINTS = 1000;
const SVG_NS = "http://www.w3.org/2000/svg";

export function addLivePoint(snap, t) {
  const points = state.livePoints;
  if (points.length && t - points[points.length - 1].t < LIVE_POINT_EVERY_MS) return;
  const values = {};
  for (const { flow } of SERIES) {
    const f = snap.power[flow];
    values[flow] = f && !flowStale(f) ? f.value : null;
  }
  points.push({ t, values });
  const hourStart = Date.parse(snap.history.hours[snap.history.hours.length - 1] || snap.generated_at);
  while (points.length && (points[0].t < hourStart || points.length > MAX_LIVE_POINTS)) points.shift();
}

function historySeries(snap) {
  const hours = snap.history.hours.map(Date.parse);
  const rates = snap.history.average_rate;
  const series = {};
  for (const { flow } of SERIES) {
    const values = flow === "consumption" && !rates.consumption
      ? (rates.grid_import && rates.pv
        ? hours.map((_, i) => rates.grid_import[i] + rates.pv[i] - (rates.grid_export ? rates.grid_export[i] : 0))
        : null)
      : rates[flow] || null;
    series[flow] = values;
  }
  return { hours, series };
}

export function drawChart() {
  const box = figure("power-chart");
  const last = state.last;
  if (!box || !last) return;
  state.chartDrawnAt = performance.now();
  const width = box.clientWidth;
  const height = box.clientHeight;
  if (width < 50 || height < 50) return;
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize);
  const fontPx = 1.05 * rem;
  const px = rem / 20;  // line widths are designed at 1920×1080 and scale with the screen
  const dash = (s) => s.dash.split(" ").filter(Boolean).map((n) => n * px).join(" ");
  const pad = { left: 4.6 * rem, right: 1 * rem, top: 3.4 * rem, bottom: 1.9 * rem };
  const snap = last.snap;
  const now = Date.parse(snap.generated_at);
  const { hours, series } = historySeries(snap);
  const currentHour = hours[hours.length - 1];
  const x0 = hours[0];
  const x1 = Math.max(now, currentHour + 60 * 1000);
  const live = state.livePoints.filter((p) => p.t >= currentHour);

  const lines = {};
  let maxValue = 0;
  for (const { flow } of SERIES) {
    const pts = [];
    const values = series[flow];
    if (values) {
      for (let i = 0; i < hours.length - 1; i++) pts.push([hours[i] + HOUR_MS / 2, values[i]]);
      if (!live.length) pts.push([(currentHour + now) / 2, values[hours.length - 1]]);
    }
    for (const p of live) pts.push([p.t, p.values[flow]]);
    lines[flow] = pts;
    for (const [, v] of pts) if (v !== null && v !== undefined) maxValue = Math.max(maxValue, v);
  }
  const { top, step } = niceScale(maxValue);
  const sx = (t) => pad.left + ((t - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const sy = (v) => height - pad.bottom - (v / top) * (height - pad.top - pad.bottom);

  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  box.replaceChildren(svg);  // attached first, so text can be measured
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Power by resource over the last 24 hours");
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };

  for (let v = 0; v <= top + step / 2; v += step) {
    add("line", { class: "grid-line", x1: pad.left, x2: width - pad.right, y1: sy(v), y2: sy(v),
      "stroke-width": px });
    add("text", { x: pad.left - 0.5 * rem, y: sy(v) + fontPx * 0.35, "text-anchor": "end", "font-size": fontPx },
      fmt(v, 0));
  }
  add("text", { x: pad.left - 0.5 * rem, y: pad.top - 1.0 * rem, "text-anchor": "end", "font-size": fontPx }, "kW");
  for (const h of hours) {
    const label = siteTime(new Date(h), zone());
    if (parseInt(label, 10) % 3 !== 0) continue;
    // a label at the right edge is anchored at its end, so it is never cut off
    const anchor = sx(h) > width - 2.5 * rem ? "end" : "middle";
    add("text", { x: anchor === "end" ? width - 0.2 * rem : sx(h), y: height - 0.4 * rem,
      "text-anchor": anchor, "font-size": fontPx }, label);
  }
  add("line", { class: "now-line", x1: sx(now), x2: sx(now), y1: pad.top, y2: height - pad.bottom,
    "stroke-width": px });

  // legend: the dash pattern and the name say which line is which, not colour alone
  const legendY = 0.9 * rem;
  const title = add("text", { x: 0, y: legendY + fontPx * 0.35, "font-size": fontPx, "font-weight": 700 },
    "Last 24 h");
  let lx = title.getComputedTextLength() + 1.6 * rem;
  for (const s of SERIES) {
    if (!series[s.flow] && !live.some((p) => p.values[s.flow] !== null)) continue;
    add("line", { x1: lx, x2: lx + 2.4 * rem, y1: legendY, y2: legendY, stroke: s.color,
      "stroke-width": s.width * px, "stroke-dasharray": dash(s) });
    const label = add("text", { x: lx + 2.9 * rem, y: legendY + fontPx * 0.35, "font-size": fontPx }, s.label);
    label.style.fill = s.color;
    lx += 2.9 * rem + label.getComputedTextLength() + 1.4 * rem;
  }

  for (const s of SERIES) {
    let d = "";
    let pen = false;
    let prevT = null;
    for (const [t, v] of lines[s.flow]) {
      const gap = prevT !== null && t - prevT > 2 * HOUR_MS;
      if (v === null || v === undefined || gap) pen = false;
      if (v !== null && v !== undefined) {
        d += `${pen ? "L" : "M"}${sx(t).toFixed(1)},${sy(v).toFixed(1)}`;
        pen = true;
      }
      prevT = t;
    }
    if (d) {
      add("path", { class: "series", d, stroke: s.color, "stroke-width": s.width * px,
        "stroke-dasharray": dash(s), "data-flow": s.flow });
    }
  }
  box.dataset.value = String(live.length);
}

function niceScale(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const rough = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough);
  return { top: Math.ceil(max / step) * step, step };
}

