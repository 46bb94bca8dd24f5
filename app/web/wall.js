// GreenPulse wall screen: live figures over a websocket, REST polling while it is down.
// Plain browser JavaScript, no build step, no dependencies.
//
// Every figure element carries data-figure="name" and data-value="raw number" (the API's
// number, unrounded; "" when the API has none), so tests compare it exactly with the API.
(() => {
  "use strict";

  const STALE_AFTER_S = 180;        // newest reading older than this: the whole screen is stale
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const POLL_MS = 3000;             // REST poll while the websocket is down
  const AUTH_RETRY_MS = 30000;      // refused token: ask again now and then, quietly
  const WATCHDOG_MS = 8000;         // the server sends a snapshot every second
  const FETCH_TIMEOUT_MS = 5000;
  const LIVE_POINT_EVERY_MS = 5000; // live chart points, at most one per this interval
  const CHART_REDRAW_MS = 2000;

  const params = new URLSearchParams(location.search);
  const token = params.get("token") || "";
  const site = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop() || "");
  const locale = pickLocale(params.get("locale"));
  const body = document.body;

  const state = {
    ws: null,
    wsOpen: false,
    backoff: BACKOFF_MIN_MS,
    reconnectTimer: null,
    watchdogTimer: null,
    pollTimer: null,
    polling: false,
    authFailed: false,
    downSince: null,      // performance.now() when the socket went down
    last: null,           // {snap, receivedAt, via}
    livePoints: [],       // [{t, values: {flow: number|null}}]
    chartDrawnAt: 0,
    startedAt: performance.now(),
  };

  // ---- formatting ---------------------------------------------------------------------

  function pickLocale(wanted) {
    for (const candidate of [wanted, navigator.language, "en"]) {
      if (!candidate) continue;
      try {
        new Intl.NumberFormat(candidate);
        return candidate;
      } catch (_) { /* try the next one */ }
    }
    return "en";
  }

  const formats = new Map();
  function numberFormat(digits, signed) {
    const key = `${digits}:${signed}`;
    if (!formats.has(key)) {
      formats.set(key, new Intl.NumberFormat(locale, {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
        signDisplay: signed ? "exceptZero" : "auto",
      }));
    }
    return formats.get(key);
  }

  // a real minus sign (U+2212) reads better across a hall than a hyphen
  function fmt(value, digits, signed = false) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "—";
    return numberFormat(digits, signed).format(value).replace("-", "\u2212");
  }

  // CO₂ mass: kg below one tonne, tonnes above; always two decimals
  function mass(kg) {
    if (kg === null || kg === undefined) return { text: "—", unit: "kg" };
    return Math.abs(kg) >= 1000 ? { text: fmt(kg / 1000, 2), unit: "t" } : { text: fmt(kg, 2), unit: "kg" };
  }

  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  }

  const timeFormats = new Map();
  function siteTime(date, withSeconds = false) {
    const zone = state.last ? state.last.snap.site.timezone : undefined;
    const key = `${zone}:${withSeconds}`;
    if (!timeFormats.has(key)) {
      const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
      if (withSeconds) options.second = "2-digit";
      let f;
      try {
        f = new Intl.DateTimeFormat(locale, { ...options, timeZone: zone });
      } catch (_) {
        f = new Intl.DateTimeFormat(locale, options);  // unknown zone: the kiosk's own
      }
      timeFormats.set(key, f);
    }
    return timeFormats.get(key).format(date);
  }

  // ---- DOM helpers ----------------------------------------------------------------------

  const $ = (selector, root = document) => root.querySelector(selector);
  const figure = (name) => $(`[data-figure="${name}"]`);

  function setFigure(name, value, text) {
    const el = figure(name);
    if (!el) return;
    el.dataset.value = value === null || value === undefined ? "" : String(value);
    if (el.textContent !== text) el.textContent = text;
  }

  function setMass(name, kg) {
    const { text, unit } = mass(kg);
    setFigure(name, kg, text);
    const unitEl = $(`[data-unit-of="${name}"]`);
    if (unitEl) unitEl.textContent = unit;
    const el = figure(name);
    if (el) el.dataset.unit = unit;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- messages (no token, refused token, unknown site) -----------------------------------

  function showMessage(title, html) {
    const box = figure("message");
    $(".message-title", box).textContent = title;
    $(".message-text", box).innerHTML = html;
    box.hidden = false;
    body.dataset.state = "error";
  }

  function hideMessage() {
    figure("message").hidden = true;
  }

  const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  function tokenHelp() {
    const example = `${location.origin}/wall/${encodeURIComponent(site)}?token=READ-TOKEN`;
    return `Open <code>${escapeHtml(example)}</code> — the read-only token is the one the ` +
      "administrator set as <code>GREENPULSE_READ_TOKEN</code>.";
  }

  // ---- connection -------------------------------------------------------------------------

  const CONNECTION_TEXT = {
    connecting: ["◌", "Connecting"],
    live: ["●", "Live"],
    polling: ["◐", "Reconnecting · polling"],
    down: ["✕", "Offline · reconnecting"],
    error: ["✕", "Not authorised"],
  };

  function setConnection(name) {
    body.dataset.connection = name;
    const pill = figure("connection");
    pill.dataset.value = name;
    const [icon, text] = CONNECTION_TEXT[name];
    $(".conn-icon", pill).textContent = icon;
    $(".conn-text", pill).textContent = text;
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
        render(data, "live");
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
      setConnection(state.last && state.last.via === "rest" && pollFresh() ? "polling" : "down");
      const delay = state.backoff * (0.8 + Math.random() * 0.4);
      state.backoff = Math.min(state.backoff * 2, BACKOFF_MAX_MS);
      clearTimeout(state.reconnectTimer);
      state.reconnectTimer = setTimeout(connect, delay);
    }
    startPolling();
    updateStatus();
  }

  function pollFresh() {
    return state.last && performance.now() - state.last.receivedAt < POLL_MS * 2 + FETCH_TIMEOUT_MS;
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
        state.authFailed = false;
        hideMessage();
      }
      render(snap, "rest");
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

  // ---- rendering ----------------------------------------------------------------------------

  function render(snap, via) {
    const generated = Date.parse(snap.generated_at);
    // the first REST answer can arrive after the first live snapshot: keep the newer one.
    // Live snapshots always win, so a server clock stepped back cannot freeze the screen.
    if (via === "rest" && state.wsOpen && state.last &&
        Date.parse(state.last.snap.generated_at) > generated) return;
    state.last = { snap, receivedAt: performance.now(), via };
    if (via === "live") setConnection("live");
    hideMessage();
    body.dataset.state = "live";
    body.dataset.generatedAt = snap.generated_at;
    body.dataset.source = via;

    setFigure("site-name", snap.site.id, snap.site.name);
    setFigure("site-timezone", snap.site.timezone, snap.site.timezone);

    const { hour, today, year } = snap.periods;
    // the hero is the physical levers' total; the line under it says what the rest is
    const reduced = hour.co2.physical_reduced_kg;
    setFigure("co2-reduced-hour", reduced, fmt(reduced, 2));
    setMass("co2-reduced-today", today.co2.physical_reduced_kg);
    setMass("co2-reduced-year", year.co2.physical_reduced_kg);
    const reductions = today.co2.reductions || {};
    setFigure("hero-kind", reductions.hero,
      `${reductions.hero || "physical"} levers · offsets beside, never subtracted`);
    // one short line on the wall (the API's reductions.explanation in full as its title)
    const contractual = mass(reductions.contractual_kg || 0);
    setFigure("reductions-explanation", reductions.explanation,
      `certificates ${contractual.text} ${contractual.unit}: contractual`);
    const explain = figure("reductions-explanation");
    if (explain) explain.title = reductions.explanation || "";
    const basis = today.co2.basis || {};
    setFigure("basis-inventory-today", basis.inventory_market_kg,
      basisLabel(basis.inventory_location_kg, basis.inventory_market_kg));
    const yearBasis = (year.co2.basis || {}).offsets_retired_kg;
    setFigure("basis-offsets-year", yearBasis, basisLabel(yearBasis));
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
    fitAll();

    const notes = [...new Set([...hour.co2.notes, ...today.co2.notes])];
    setFigure("notes", notes.length, notes.join(" · "));

    addLivePoint(snap, generated);
    if (performance.now() - state.chartDrawnAt > CHART_REDRAW_MS) drawChart();
    updateStatus();
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

  function fitAll() {
    for (const box of document.querySelectorAll(".hero-number, .tile .val")) fit(box);
    body.classList.remove("compact");
    const overflowing = [...document.querySelectorAll(".wall .panel")]
      .some((panel) => panel.scrollHeight > panel.clientHeight + 1);
    if (overflowing) body.classList.add("compact");
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
      basis.textContent = info.basis(lever.basis) + (lever.kind === "contractual" ? " · contractual" : "");
      item.title = `${lever.explanation} (factor ${lever.factor_id})`;
    }
  }

  function flowAge(flow) {
    if (!flow || !flow.as_of || !state.last) return null;
    const sinceSnapshot = (performance.now() - state.last.receivedAt) / 1000;
    return (Date.parse(state.last.snap.generated_at) - Date.parse(flow.as_of)) / 1000 + sinceSnapshot;
  }

  // stale as the server says (a meter silent for 3 expected intervals), or because no
  // snapshot has arrived for a while
  function flowStale(flow) {
    if (!flow) return false;
    const sinceSnapshot = state.last ? (performance.now() - state.last.receivedAt) / 1000 : 0;
    return Boolean(flow.stale) || !flow.as_of || sinceSnapshot > STALE_AFTER_S;
  }

  function staleTag(flow) {
    const age = flowAge(flow);
    if (age === null) return "no reading yet";
    // a flow is stale when any of its meters is silent; its newest reading may be recent
    if (flow.stale && age <= STALE_AFTER_S) {
      const silent = flow.silent || [];
      if (silent.length === 1) return `${silent[0]} is silent`;
      if (silent.length > 1) return `${silent.length} meters silent`;
      return "a meter is silent";
    }
    return `last reading ${duration(age)} ago`;
  }

  function renderPower(snap) {
    const power = snap.power || {};
    for (const name of ["grid_import", "pv", "grid_export", "consumption", "gas", "water"]) {
      const flow = power[name];
      const digits = flow && flow.unit === "kW" ? 0 : 1;
      setFigure(`power-${name}`, flow ? flow.value : null, flow ? fmt(flow.value, digits) : "—");
    }
    const shareNow = snap.pv_share_now;
    setFigure("pv-share-now", shareNow, shareNow === null ? "—" : fmt(shareNow * 100, 1));
    const shareToday = snap.periods.today.pv_share;
    setFigure("pv-share-today", shareToday, shareToday === null ? "—" : fmt(shareToday * 100, 1));
    renderPowerTags(snap);
  }

  const SEVERITY = {
    critical: { rank: 0, label: "▲ Critical" },
    warning: { rank: 1, label: "! Warning" },
    info: { rank: 2, label: "i Info" },
  };
  const MAX_ALERTS = 2;  // rows; more alerts fold into a "N more" row

  function renderAlerts(alerts) {
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
        el("span", "alert-when", `since ${siteTime(new Date(alert.opened_at))}${acknowledged}`));
      list.append(item);
    }
    if (shown.length < sorted.length) {
      const more = el("li");
      more.dataset.severity = sorted[shown.length].severity;
      more.append(el("span", "alert-tag", "More"),
        el("span", "alert-msg", `${sorted.length - shown.length} more open alerts`));
      list.append(more);
    }
  }

  // ---- status: staleness banner, clock, ages (every second) -----------------------------

  function updateStatus() {
    const now = performance.now();
    const banner = figure("stale-banner");
    let text = "";
    let dim = false;
    const last = state.last;
    const snapshotAge = last ? (now - last.receivedAt) / 1000 : null;
    const readingAge = last && last.snap.freshness.age_s !== null
      ? last.snap.freshness.age_s + snapshotAge : null;
    if (state.authFailed) {
      text = "";
    } else if (!state.wsOpen && (state.downSince !== null || now - state.startedAt > 5000)) {
      const down = state.downSince === null ? 0 : (now - state.downSince) / 1000;
      if (last && last.via === "rest" && pollFresh()) {
        text = `Live connection lost ${duration(down)} ago — reconnecting. ` +
          `Figures are refreshed every ${POLL_MS / 1000} s meanwhile.`;
      } else if (last) {
        text = `Server unreachable for ${duration(down)} — reconnecting. Figures shown are ` +
          `from ${siteTime(new Date(last.snap.generated_at), true)} (${duration(snapshotAge)} ago).`;
        dim = true;
      } else {
        text = "Cannot reach the GreenPulse server — retrying.";
      }
    } else if (readingAge !== null && readingAge > STALE_AFTER_S) {
      text = `No new meter readings for ${duration(readingAge)} — the figures are not live.`;
      dim = true;
    } else if (last && last.snap.freshness.newest_reading_at === null) {
      text = "No meter readings yet for this site.";
    }
    if (banner.hidden !== !text) {
      banner.hidden = !text;
      fitAll();
    }
    if (text) $(".banner-text", banner).textContent = text;
    body.dataset.stale = String(Boolean(text));
    body.dataset.dim = String(dim);

    if (last) {
      renderPowerTags(last.snap);
      const via = last.via === "live" ? "live connection" : "polling";
      setFigure("updated", last.snap.generated_at,
        `Updated ${siteTime(new Date(last.snap.generated_at), true)} via ${via}` +
        (readingAge !== null ? ` · newest reading ${duration(readingAge)} old` : ""));
    }
    // the clock shows the site's time, so only once the site's timezone is known
    if (last) setFigure("site-clock", null, siteTime(new Date()));
  }

  // stale marks are recomputed every second: a flow goes stale on screen when nothing arrives
  function renderPowerTags(snap) {
    const power = snap.power || {};
    for (const tile of document.querySelectorAll(".tile[data-flows]")) {
      const flows = tile.dataset.flows.split(" ").filter(Boolean);
      const tag = $(".tag", tile);
      if (flows.some((f) => !power[f])) {
        tile.dataset.stale = "false";
        tag.textContent = "not metered";
        continue;
      }
      const stale = flows.filter((f) => flowStale(power[f]));
      tile.dataset.stale = String(stale.length > 0);
      if (stale.length === 0) tag.textContent = "";
      else if (flows.length === 1) tag.textContent = staleTag(power[flows[0]]);
      else tag.textContent = "from stale flows";
    }
  }

  // ---- chart: 24 hourly averages, then the live points of the current hour ----------------

  const SERIES = [
    { flow: "consumption", label: "Consumption", color: "#f4f7f9", width: 4, dash: "" },
    { flow: "grid_import", label: "Grid import", color: "#ffc83d", width: 4, dash: "14 8" },
    { flow: "pv", label: "Rooftop PV", color: "#5ee38f", width: 4, dash: "" },
    { flow: "grid_export", label: "Export", color: "#7cc4ff", width: 3, dash: "3 7" },
  ];
  const HOUR_MS = 3600 * 1000;
  const MAX_LIVE_POINTS = 1000;
  const SVG_NS = "http://www.w3.org/2000/svg";

  function addLivePoint(snap, t) {
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

  function drawChart() {
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
      const label = siteTime(new Date(h));
      if (parseInt(label, 10) % 3 !== 0) continue;
      add("text", { x: sx(h), y: height - 0.4 * rem, "text-anchor": "middle", "font-size": fontPx }, label);
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

  // ---- start ----------------------------------------------------------------------------

  function start() {
    setInterval(updateStatus, 1000);
    window.addEventListener("resize", fitAll);
    // banners coming and going resize the chart's box: draw it again at its new size
    new ResizeObserver(() => drawChart()).observe(figure("power-chart"));
    setFigure("site-name", site, site);
    updateStatus();
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

  start();
})();
