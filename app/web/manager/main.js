// The manager's pages: one shell, one module per page, loaded by the page named in the path.
import { get, page, pageUrl, site } from "./connection.js";
import { el, setStatus } from "./render.js";

const PAGES = {
  overview: ["Overview", () => import("./overview.js")],
  history: ["History", () => import("./history.js")],
  flow: ["Energy flow", () => import("./flow.js")],
  alerts: ["Alerts", () => import("./alerts.js")],
  certificates: ["Certificates & offsets", () => import("./certificates.js")],
  health: ["Meter health", () => import("./health.js")],
};

async function start() {
  document.getElementById("nav").replaceChildren(
    ...Object.entries(PAGES).map(([name, [label]]) =>
      el("a", { href: pageUrl(name), "aria-current": name === page ? "page" : null, dataset: { page: name } }, label)));
  try {
    const info = await get(`/api/v1/sites/${encodeURIComponent(site)}`);
    document.getElementById("site-name").textContent = info.name;
    document.title = `GreenPulse · ${info.name} · ${PAGES[page][0]}`;
    const module = await PAGES[page][1]();
    await module.render(info);
    document.body.dataset.ready = "true";
  } catch (error) {
    setStatus("error", error.status === 401 ? "a valid token is needed (?token=…)" : `error: ${error.message}`);
    document.body.dataset.ready = "error";
  }
}

start();
