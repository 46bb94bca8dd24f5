// Rendering one snapshot: the hero, levers, inventory, power tiles and alerts.
import { fmt, mass, siteTime } from "./format.js";
import { $, body, el, figure, hideMessage, setFigure, setMass, state } from "./dom.js";
import { zone } from "./clock.js";
import { addLivePoint, drawChart } from "./chart.js";
import { updateStatus } from "./status.js";

const CHART_REDRAW_MS = 2000;

export function render(snap, via) {
  const generated = Date.parse(snap.generated_at);
  // the first REST answer can arrive after the first live snapshot: keep the newer one.
  // Live snapshots always win, so a server clock stepped back cannot freeze the screen.
  if (via === "rest" && state.wsOpen && state.last &&
      Date.parse(state.last.snap.generated_at) > generated) return;
  state.last = { snap, receivedAt: performance.now(), via };
  hideMessage();
  body.dataset.state = "live";
  body.dataset.generatedAt = snap.generated_at;
  body.dataset.source = via;

  setFigure("site-name", snap.site.id, snap.site.name);
  setFigure("site-timezone", snap.site.timezone, snap.site.timezone);

  const { hour, today, year } = snap.periods;
  renderHero(snap);
  // the hero figures are the physical levers' total; the line under them says what the
  // rest is (certificates are contractual, offsets are reported beside)
  setMass("co2-reduced-today", today.co2.physical_reduced_kg);
  setMass("co2-reduced-year", year.co2.physical_reduced_kg);
  renderReductions(today.co2, year.co2);
  const estimated = hour.estimated_samples || 0;
  setFigure("estimated-hour", estimated, estimated
    ? `Includes ${fmt(estimated, 0)} estimated meter intervals (resets, gaps)` : "");

  renderLevers(today.co2);
  setMass("inventory-location-today", today.co2.inventory_location_kg);
  setMass("inventory-market-today", today.co2.inventory_market_kg);
  setMass("avoided-pv-today", today.co2.avoided_pv_kg);
  setMass("offsets-retired-year", year.co2.offsets_retired_kg);

  renderPower(snap);
  renderAlerts(snap.alerts || []);

  const notes = [...new Set([...hour.co2.notes, ...today.co2.notes])];
  setFigure("notes", notes.length, notes.join(" · "));

  addLivePoint(snap, generated);
  updateStatus(fitAll);
  fitAll();
  if (performance.now() - state.chartDrawnAt > CHART_REDRAW_MS) drawChart();
}

// Just after the hour turns, the new hour has no readings yet (they are on their way):
// the hero then shows the hour that just ended, and says so, rather than a false zero.
function renderHero(snap) {
  const hour = snap.periods.hour;
  const newest = snap.freshness.newest_reading_at;
  const reduced = hour.co2.physical_reduced_kg;
  const previous = state.lastHour;
  const waiting = newest !== null && Date.parse(newest) < Date.parse(hour.start);
  const heroNode = figure("co2-reduced-hour");
  if (waiting && previous && previous.end === hour.start) {
    setFigure("co2-reduced-hour", previous.kg, fmt(previous.kg, 2));
    heroNode.dataset.period = "previous-hour";
    heroNode.dataset.periodStart = previous.start;
    $("#hero-title strong").textContent = "last hour";
    return;
  }
  if (!state.lastHour || state.lastHour.start !== hour.start || !waiting) {
    state.lastHour = { start: hour.start, end: hour.end, kg: reduced };
  }
  setFigure("co2-reduced-hour", reduced, fmt(reduced, 2));
  heroNode.dataset.period = "hour";
  heroNode.dataset.periodStart = hour.start;
  $("#hero-title strong").textContent = "this hour";
}

function renderPower(snap) {
  // the tiles' values and stale marks come from status.js, which redraws them every second
  const shareNow = snap.pv_share_now;
  setFigure("pv-share-now", shareNow, shareNow === null ? "—" : fmt(shareNow * 100, 1));
  const shareToday = snap.periods.today.pv_share;
  setFigure("pv-share-today", shareToday, shareToday === null ? "—" : fmt(shareToday * 100, 1));
}

// shrink a number (and its unit) only when it would not fit its box (very large plants)
function fit(box) {
  box.style.fontSize = "";
  if (!box.clientWidth) return;  // not laid out (message screen)
  const overflow = box.scrollWidth / box.clientWidth;
  if (overflow > 1) {
    box.style.fontSize = `${parseFloat(getComputedStyle(box).fontSize) / overflow * 0.98}px`;
  }
}

// a glyph's ink may pass its line box by a pixel or two (more on 4K): not an overflow
const slack = () => Math.max(1, (2 * innerHeight) / 1080);
const overflowing = () => [...document.querySelectorAll(".wall .panel, .tile")]
  .some((box) => box.scrollHeight > box.clientHeight + slack() ||
    box.scrollWidth > box.clientWidth + slack());

// Fit everything on screen: first the explanatory lines give way (compact), then the
// whole layout scales down a little at a time, so no figure is ever cut off.
export function fitAll() {
  const root = document.documentElement;
  let scale = 1;
  root.style.setProperty("--fit", "1");
  body.classList.remove("compact");
  for (const box of document.querySelectorAll(".hero-number, .tile .val")) fit(box);
  if (!overflowing()) return;
  body.classList.add("compact");
  while (overflowing() && scale > 0.6) {
    scale -= 0.04;
    root.style.setProperty("--fit", scale.toFixed(2));
    for (const box of document.querySelectorAll(".hero-number, .tile .val")) fit(box);
  }
}

const LEVERS = {
  pv: { title: "Rooftop PV", basis: (b) => `${fmt(b, 0)} kWh self-consumed`, missing: "no PV" },
  certificates: {
    title: "Green certificates",
    basis: (b) => `${fmt(b, 0)} kWh covered by certificates`,
    missing: "no certificates",
  },
  efficiency: {
    title: "Efficiency vs baseline",
    basis: (b) => (b >= 0 ? `${fmt(b, 0)} kWh below the baseline`
      : `${fmt(-b, 0)} kWh above the baseline (worse)`),
    missing: "efficiency not assessed",
  },
  water_reuse: { title: "Water reuse", basis: (b) => `${fmt(b, 1)} m³ reused`, missing: "water not assessed" },
};

function renderReductions(today, year) {
  const reductions = today.reductions || {};
  setFigure("hero-kind", reductions.hero, `${reductions.hero || "physical"} levers`);
  // one short line on the wall (the API's reductions.explanation in full as its title)
  const contractual = mass(reductions.contractual_kg || 0);
  setFigure("reductions-explanation", reductions.explanation,
    `certificates ${contractual.text} ${contractual.unit}: contractual`);
  const explain = figure("reductions-explanation");
  if (explain) explain.title = reductions.explanation || "";
  const basis = today.basis || {};
  setFigure("basis-inventory-today", basis.inventory_market_kg,
    basisLabel(basis.inventory_location_kg, basis.inventory_market_kg));
  const yearBasis = (year.basis || {}).offsets_retired_kg;
  setFigure("basis-offsets-year", yearBasis, basisLabel(yearBasis));
}

// "CO₂", "CO₂e" or "CO₂ + CO₂e mixed" for the gas basis of a total
function basisLabel(...bases) {
  const known = bases.filter(Boolean);
  if (known.some((b) => b.startsWith("mixed"))) return "CO₂ + CO₂e mixed";
  const distinct = [...new Set(known)];
  if (distinct.length > 1) return "CO₂ + CO₂e mixed";
  return distinct[0] === "CO2e" ? "CO₂e" : "CO₂";
}

function renderLevers(co2) {
  const list = figure("levers");
  const byName = new Map(co2.levers.map((lever) => [lever.name, lever]));
  const names = [...Object.keys(LEVERS), ...byName.keys()].filter((n, i, all) => all.indexOf(n) === i);
  list.dataset.value = String(co2.levers.length);
  for (const name of names) {
    let item = $(`[data-lever="${name}"]`, list);
    if (!item) {
      item = el("li", "lever");
      item.dataset.lever = name;
      const text = el("span", "lever-text");
      text.append(el("span", "lever-name", (LEVERS[name] || { title: name }).title),
        el("span", "lever-basis"));
      const kg = el("span", "lever-kg");
      const num = el("span", "num", "—");
      num.dataset.figure = `lever-${name}-today`;
      kg.append(num, el("span", "unit", "kg"));
      item.append(text, kg);
      list.append(item);
    }
    const lever = byName.get(name);
    const info = LEVERS[name] || { basis: (b) => fmt(b, 1), missing: "not assessed" };
    const basis = $(".lever-basis", item);
    if (!lever) {
      item.dataset.assessed = "false";
      item.dataset.sign = "none";
      setFigure(`lever-${name}-today`, null, "not assessed");
      const note = co2.notes.find((n) => n.includes(info.missing));
      basis.textContent = note || info.missing;
      continue;
    }
    item.dataset.assessed = "true";
    item.dataset.kind = lever.kind || "physical";
    item.dataset.sign = lever.kg < 0 ? "negative" : lever.kg > 0 ? "positive" : "zero";
    setFigure(`lever-${name}-today`, lever.kg, fmt(lever.kg, 2, true));
    basis.textContent = info.basis(lever.basis);
    item.title = `${lever.explanation} (factor ${lever.factor_id})`;
  }
}

const SEVERITY = {
  critical: { rank: 0, label: "▲ Critical" },
  warning: { rank: 1, label: "! Warning" },
  info: { rank: 2, label: "i Info" },
};
const MAX_ALERTS = 2;  // rows; more alerts fold into a "N more" row

// info-level events (register rollovers, resets) stay in the alert list, off the wall
function renderAlerts(all) {
  const alerts = all.filter((a) => a.severity !== "info");
  const list = figure("alerts");
  const sorted = [...alerts].sort((a, b) =>
    ((SEVERITY[a.severity] || SEVERITY.info).rank - (SEVERITY[b.severity] || SEVERITY.info).rank) ||
    (Date.parse(b.opened_at) - Date.parse(a.opened_at)));
  const key = sorted.map((a) => `${a.id}:${a.severity}:${a.status}:${a.message}`).join("|");
  list.dataset.value = String(alerts.length);
  list.hidden = alerts.length === 0;
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren();
  const shown = sorted.length > MAX_ALERTS ? sorted.slice(0, MAX_ALERTS - 1) : sorted;
  for (const alert of shown) {
    const item = el("li");
    item.dataset.severity = SEVERITY[alert.severity] ? alert.severity : "info";
    item.dataset.alertId = String(alert.id);
    const label = (SEVERITY[alert.severity] || SEVERITY.info).label;
    const acknowledged = alert.status === "acknowledged" ? " · acknowledged" : "";
    item.append(el("span", "alert-tag", label), el("span", "alert-msg", alert.message),
      el("span", "alert-when", `since ${siteTime(new Date(alert.opened_at), zone())}${acknowledged}`));
    list.append(item);
  }
  if (shown.length < sorted.length) {
    const more = el("li");
    more.dataset.severity = sorted[shown.length].severity;
    more.append(el("span", "alert-tag", "More"),
      el("span", "alert-msg", `${sorted.length - shown.length} more open alerts (warning or critical)`));
    list.append(more);
  }
}

