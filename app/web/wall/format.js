// Formatting: numbers, CO₂ masses, durations and the site's local time. No DOM, no state.

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

export const locale = pickLocale(new URLSearchParams(location.search).get("locale"));

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
export function fmt(value, digits, signed = false) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return numberFormat(digits, signed).format(value).replace("-", "\u2212");
}

// CO₂ mass: kg below one tonne, tonnes above; always two decimals
export function mass(kg) {
  if (kg === null || kg === undefined) return { text: "—", unit: "kg" };
  return Math.abs(kg) >= 1000 ? { text: fmt(kg / 1000, 2), unit: "t" } : { text: fmt(kg, 2), unit: "kg" };
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

const timeFormats = new Map();
// the time at the site (its IANA zone), whatever the kiosk's own zone
export function siteTime(date, zone, withSeconds = false) {
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

export const speedText = (speed) => `${fmt(speed, Number.isInteger(speed) ? 0 : 1)}×`;
