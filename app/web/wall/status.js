// One screen state, computed every second, drives the pill, the banner and the tiles:
// loading, live, stale (no new readings), polling, down (server unreachable) or error.
import { duration, fmt, siteTime, speedText } from "./format.js";
import { $, body, figure, setFigure, state } from "./dom.js";
import { ageOf, serverNow, simulated, sinceSnapshot, speed, zone } from "./clock.js";
import { POLL_MS, pollFresh, showPill } from "./connection.js";

export const STALE_AFTER_S = 180;  // server seconds without a new reading: not live
const SNAPSHOT_LOST_S = 10;         // real seconds without a snapshot: the figures are old

export function screenState() {
  const last = state.last;
  const connection = body.dataset.connection;
  if (state.authFailed || connection === "error") return { name: "error", text: "" };
  const readingAge = last && last.snap.freshness.newest_reading_at
    ? ageOf(last.snap.freshness.newest_reading_at) : null;
  const now = performance.now();
  if (!state.wsOpen && (state.downSince !== null || now - state.startedAt > 5000)) {
    const down = state.downSince === null ? 0 : (now - state.downSince) / 1000;
    if (last && pollFresh()) {
      return { name: "polling", text: `Live connection lost ${duration(down)} ago — reconnecting. ` +
        `Figures are refreshed every ${POLL_MS / 1000} s meanwhile.`, readingAge };
    }
    if (last) {
      return { name: "down", dim: true, readingAge, text: `Server unreachable for ${duration(down)}` +
        ` — reconnecting. Figures shown are from ${siteTime(new Date(last.snap.generated_at), zone(), true)}.` };
    }
    return { name: "down", text: "Cannot reach the GreenPulse server — retrying." };
  }
  if (!last) return { name: "loading", text: "" };
  if (sinceSnapshot() > SNAPSHOT_LOST_S) {
    return { name: "down", dim: true, readingAge, text: `No figures from the server for ` +
      `${duration(sinceSnapshot())} — the figures shown are not live.` };
  }
  if (last.snap.freshness.newest_reading_at === null) {
    return { name: "stale", text: "No meter readings yet for this site.", readingAge };
  }
  if (readingAge > STALE_AFTER_S) {
    return { name: "stale", dim: true, readingAge,
      text: `No new meter readings for ${duration(readingAge)} — the figures are not live.` };
  }
  return { name: "live", text: "", readingAge };
}

function flowAge(flow) {
  return flow && flow.as_of && state.last ? ageOf(flow.as_of) : null;
}

// stale as the server says (a meter silent for 3 expected intervals), or because the
// screen itself is not live
export function flowStale(flow, screen = "live") {
  if (!flow) return false;
  return Boolean(flow.stale) || !flow.as_of || screen !== "live";
}

function staleTag(flow) {
  const age = flowAge(flow);
  if (age === null) return "no reading yet";
  const silent = flow.silent || [];
  // a flow is stale when any of its meters is silent; its newest reading may be recent
  if (flow.stale && age <= STALE_AFTER_S && silent.length) {
    return silent.length === 1 ? `${silent[0]} is silent` : `${silent.length} meters silent`;
  }
  return `${duration(age)} old`;
}

// a stale tile keeps its meters' last value, dimmed, with its age: never a made-up zero
function renderTiles(snap, screen) {
  const power = snap.power || {};
  for (const tile of document.querySelectorAll(".tile[data-flows]")) {
    const flows = tile.dataset.flows.split(" ").filter(Boolean);
    const tag = $(".tag", tile);
    if (flows.some((f) => !power[f])) {
      tile.dataset.stale = "false";
      tag.textContent = "not metered";
      continue;
    }
    const stale = flows.filter((f) => flowStale(power[f], screen));
    tile.dataset.stale = String(stale.length > 0);
    if (flows.length === 1) {
      const flow = power[flows[0]];
      const shown = stale.length ? flow.last_value ?? flow.value : flow.value;
      const digits = flow.unit === "kW" ? 0 : 1;
      setFigure(`power-${flows[0]}`, shown, flow.as_of || !stale.length ? fmt(shown, digits) : "—");
    }
    if (stale.length === 0) tag.textContent = "";
    else if (flows.length === 1) tag.textContent = staleTag(power[flows[0]]);
    else tag.textContent = "from stale flows";
  }
}

export function updateStatus(onBannerChange) {
  const screen = screenState();
  body.dataset.screen = screen.name;
  body.dataset.stale = String(screen.name !== "live" && screen.name !== "loading");
  body.dataset.dim = String(Boolean(screen.dim));
  const pill = { live: "live", stale: "stale", polling: "polling", down: "down",
    error: "error", loading: "connecting" }[screen.name];
  showPill(pill);
  const banner = figure("stale-banner");
  if (banner.hidden !== !screen.text) {
    banner.hidden = !screen.text;
    onBannerChange();
  }
  if (screen.text) $(".banner-text", banner).textContent = screen.text;

  const last = state.last;
  if (!last) return;
  renderTiles(last.snap, screen.name);
  const via = last.via === "live" ? "live connection" : "polling";
  const age = screen.readingAge;
  setFigure("updated", last.snap.generated_at,
    `Updated ${siteTime(new Date(last.snap.generated_at), zone(), true)} via ${via}` +
    (age !== null && age !== undefined ? ` · newest reading ${duration(age)} old` : ""));
  // one clock on screen: the server's, simulated or not, in the site's timezone
  const now = new Date(serverNow());
  setFigure("site-clock", now.toISOString(), siteTime(now, zone()));
  const mode = simulated() ? `simulated · ${speedText(speed())}` : "";
  setFigure("clock-mode", simulated() ? speed() : "", mode);
  figure("clock-mode").hidden = !mode;
}
