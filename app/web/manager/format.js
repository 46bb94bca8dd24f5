// Numbers for people; the exact API value always travels beside them in data-value.
const formats = new Map();
function numberFormat(digits) {
  if (!formats.has(digits)) formats.set(digits, new Intl.NumberFormat("en", { minimumFractionDigits: digits, maximumFractionDigits: digits }));
  return formats.get(digits);
}

export function fmt(value, digits = 1) {
  if (value === null || value === undefined || value === "") return "—";
  const n = typeof value === "string" ? Number(value) : value;
  if (!Number.isFinite(n)) return "—";
  return numberFormat(digits).format(n).replace("-", "\u2212");
}

export function localTime(iso, zone, withDate = true) {
  if (!iso) return "—";
  const options = { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (withDate) Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit" });
  return new Intl.DateTimeFormat("en-CA", options).format(new Date(iso));
}

export const RESOURCE_LABEL = {
  electricity_import: "Grid import", electricity_export: "Export", pv: "PV", electricity: "Electricity (feeders)",
  gas: "Gas", water: "Water", water_reuse: "Water reuse", production: "Production",
};
export const FLOW_LABEL = {
  grid_import: "Grid import", grid_export: "Export", pv: "PV", feeders: "Electricity", consumption: "Consumption",
  gas: "Gas", water: "Water", water_reuse: "Water reuse", production: "Production",
};
