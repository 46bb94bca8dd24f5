// Small DOM helpers: elements, figures with their exact value, tables, the status line.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat(Infinity)) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  return node;
}

// a number on screen: data-figure names it, data-value holds the API's value as sent
export function figure(name, value, text, unit = "") {
  return el("span", { class: "num", dataset: { figure: name, value: value === null || value === undefined ? "" : String(value), unit } }, text, unit ? el("small", {}, ` ${unit}`) : null);
}

export function card(label, node) { return el("div", { class: "card" }, el("div", { class: "label" }, label), node); }

export function table(columns, rows, attrs = {}) {
  return el("table", attrs, el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))), el("tbody", {}, rows));
}

export function setStatus(state, text) {
  const node = document.getElementById("status");
  node.dataset.state = state;
  node.textContent = text;
}

export function main(...children) {
  const node = document.getElementById("main");
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
  return node;
}
