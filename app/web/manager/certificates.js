// Green certificates and offsets: list, add, void. Tables and forms follow the API's own
// schema (/openapi.json), so the page keeps up with the instruments' fields as they grow;
// offsets' list and void appear where the server offers them.
import { downloadUrl, get, post, site } from "./connection.js";
import { fmt } from "./format.js";
import { adminBox } from "./admin.js";
import { el, figure, main, setStatus, table } from "./render.js";

const base = () => `/api/v1/sites/${encodeURIComponent(site)}`;
const ROUTE = "/api/v1/sites/{site_id}";
const AMOUNTS = ["mwh", "kwh", "quantity", "tonnes_co2e", "kg"];

function bodySchema(api, path) {
  const op = api.paths[`${ROUTE}${path}`] && api.paths[`${ROUTE}${path}`].post;
  if (!op || !op.requestBody) return null;
  let schema = op.requestBody.content["application/json"].schema;
  if (schema.$ref) schema = api.components.schemas[schema.$ref.split("/").pop()];
  return schema;
}

function inputType(prop) {
  const options = prop.anyOf || [prop];
  if (options.some((p) => p.type === "number" || p.type === "integer")) return "number";
  if (options.some((p) => p.format === "date")) return "date";
  if (options.some((p) => p.format === "date-time")) return "datetime-local";
  return "text";
}

function form(schema, submit) {
  const required = new Set(schema.required || []);
  const inputs = Object.entries(schema.properties).map(([name, prop]) => {
    const type = inputType(prop);
    return [name, type, el("input", { name, type, step: type === "number" ? "any" : null, required: required.has(name) })];
  });
  return el("form", { class: "inline", dataset: { form: schema.title || "" }, onsubmit: async (e) => {
    e.preventDefault();
    const body = {};
    for (const [name, type, input] of inputs) {
      if (input.value === "") continue;
      body[name] = type === "number" ? Number(input.value) : type === "datetime-local" ? new Date(input.value).toISOString() : input.value;
    }
    await submit(body);
  } }, inputs.map(([name, , input]) => el("label", {}, name, input)), el("button", { type: "submit" }, "Add"));
}

function listTable(kind, items, extra) {
  const columns = [...new Set(items.flatMap((item) => Object.keys(item)))].filter((c) => typeof items[0][c] !== "object" || items[0][c] === null);
  return table([...columns, ""], items.map((item) => el("tr", { dataset: { [kind]: String(item.id ?? item.reference) } },
    columns.map((c) => el("td", {}, AMOUNTS.includes(c) ? figure(`${kind}.${item.id ?? item.reference}.${c}`, item[c], fmt(item[c], 3)) : String(item[c] ?? ""))),
    el("td", {}, extra ? extra(item) : ""))), { id: `${kind === "certificate" ? "certificates" : "offsets"}` });
}

async function guarded(action, info) {
  try { await action(); await show(info); } catch (error) {
    setStatus("error", error.status === 401 || error.status === 403 ? "an admin token is needed to change these" : error.message);
  }
}

async function show(info) {
  const api = await get("/openapi.json");
  const certs = await get(`${base()}/certificates`);
  let offsets = null, offsetsNote = "";
  try { offsets = await get(`${base()}/offsets`); } catch (error) { offsetsNote = error.status === 404 || error.status === 405 ? "listing offsets is not offered by this server" : error.message; }
  const voidSchema = Object.keys(api.paths).find((p) => /\/offsets\/\{[^}]+\}\/void$/.test(p));
  const amount = (c) => Number(c.mwh ?? (c.kwh !== undefined ? Number(c.kwh) / 1000 : 0));
  const totalMwh = certs.reduce((s, c) => s + amount(c), 0);
  const certificateBody = bodySchema(api, "/certificates");
  const offsetBody = bodySchema(api, "/offsets");
  main(
    el("h1", {}, "Certificates and offsets"),
    adminBox(() => show(info)),
    el("h2", {}, "Green electricity certificates (market-based scope 2)"),
    el("p", {}, "Total ", figure("certificates.mwh", totalMwh, fmt(totalMwh, 3), "MWh"), " · ",
      el("a", { id: "export-certificates", href: downloadUrl(`${base()}/export/certificates.csv`), download: "" }, "CSV")),
    certs.length ? listTable("certificate", certs) : el("p", { class: "muted", id: "certificates" }, "none yet"),
    certificateBody ? form(certificateBody, (body) => guarded(() => post(`${base()}/certificates`, body), info)) : null,
    el("h2", {}, "Offsets (reported beside the inventory, never netted)"),
    offsets === null ? el("p", { class: "muted", id: "offsets-unavailable" }, offsetsNote) :
      offsets.length ? listTable("offset", offsets, (o) => (o.voided || o.voided_at || !voidSchema ? (o.voided ? "void" : "") :
        el("button", { dataset: { void: o.reference }, onclick: () => guarded(() => post(`${base()}/offsets/${encodeURIComponent(o.reference)}/void`, { reason: "voided from the workspace" }), info) }, "Void"))) : el("p", { class: "muted" }, "none yet"),
    offsetBody ? form(offsetBody, (body) => guarded(() => post(`${base()}/offsets`, body), info)) : null,
  );
  setStatus("live", `${certs.length} certificates`);
}

export async function render(info) { await show(info); }
