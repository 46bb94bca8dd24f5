// The admin token field: changes need the write token, kept in this tab only.
import { adminToken, setAdminToken } from "./connection.js";
import { el } from "./render.js";

export function adminBox(onChange = () => {}) {
  const input = el("input", { type: "password", id: "admin-token", placeholder: "admin token for changes", value: adminToken(), autocomplete: "off" });
  return el("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); setAdminToken(input.value.trim()); onChange(); } },
    el("label", {}, "Admin token", input), el("button", { type: "submit" }, "Use"));
}
