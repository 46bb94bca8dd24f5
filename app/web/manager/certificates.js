// Green certificates and offsets: list, add, void (offsets' list and void where the API has them).
import { downloadUrl, get, post, site } from "./connection.js";
import { fmt } from "./format.js";
import { adminBox } from "./admin.js";
import { el, figure, main, setStatus, table } from "./render.js";

const base = () => `/api/v1/sites/${encodeURIComponent(site)}`;

function form(fields, submit) {
  const inputs = Object.fromEntries(fields.map(([name, type]) => [name, el("input", { name, type, step: type === "number" ? "any" : null, required: name !== "reference" })]));
  return el("form", { class: "inline", onsubmit: async (e) => { e.preventDefault(); await submit(Object.fromEntries(Object.entries(inputs).map(([k, i]) => [k, i.type === "number" ? Number(i.value) : i.value || null]))); } },
    fields.map(([name]) => el("label", {}, name, inputs[name])), el("button", { type: "submit" }, "Add"));
}

async function guarded(action, info) {
  try { await action(); await show(info); } catch (error) {
    setStatus("error", error.status === 401 || error.status === 403 ? "an admin token is needed to change these" : error.message);
  }
}

async function show(info) {
  const certs = await get(`${base()}/certificates`);
  let offsets = null, offsetsNote = "";
  try { offsets = await get(`${base()}/offsets`); } catch (error) { offsetsNote = error.status === 404 || error.status === 405 ? "listing offsets is not offered by this server yet" : error.message; }
  const totalMwh = certs.reduce((s, c) => s + c.mwh, 0);
  main(
    el("h1", {}, "Certificates and offsets"),
    adminBox(() => show(info)),
    el("h2", {}, "Green electricity certificates (market-based scope 2)"),
    el("p", {}, "Total ", figure("certificates.mwh", totalMwh, fmt(totalMwh, 3), "MWh"), " · ",
      el("a", { id: "export-certificates", href: downloadUrl(`${base()}/export/certificates.csv`), download: "" }, "CSV")),
    table(["Id", "From", "To", "MWh", "Scheme", "Reference"], certs.map((c) => el("tr", { dataset: { certificate: String(c.id) } },
      el("td", {}, String(c.id)), el("td", {}, c.period_start), el("td", {}, c.period_end), el("td", {}, figure(`certificate.${c.id}.mwh`, c.mwh, fmt(c.mwh, 3))), el("td", {}, c.scheme), el("td", {}, c.reference || ""))), { id: "certificates" }),
    form([["period_start", "date"], ["period_end", "date"], ["mwh", "number"], ["scheme", "text"], ["reference", "text"]], (body) => guarded(() => post(`${base()}/certificates`, body), info)),
    el("h2", {}, "Offsets (reported beside the inventory, never netted)"),
    offsets === null ? el("p", { class: "muted", id: "offsets-unavailable" }, offsetsNote) :
      table(["Id", "Retired on", "t CO₂e", "Standard", "Reference", ""], offsets.map((o) => el("tr", { dataset: { offset: String(o.id) } },
        el("td", {}, String(o.id)), el("td", {}, o.retired_on), el("td", {}, figure(`offset.${o.id}.tonnes`, o.tonnes_co2e, fmt(o.tonnes_co2e, 3))), el("td", {}, o.standard), el("td", {}, o.reference || ""),
        el("td", {}, o.voided_at ? "void" : el("button", { onclick: () => guarded(() => post(`${base()}/offsets/${o.id}/void`, { by: "energy manager", note: "voided from the workspace" }), info) }, "Void")))), { id: "offsets" }),
    form([["retired_on", "date"], ["tonnes_co2e", "number"], ["standard", "text"], ["reference", "text"]], (body) => guarded(() => post(`${base()}/offsets`, body), info)),
  );
  setStatus("live", `${certs.length} certificates`);
}

export async function render(info) { await show(info); }
