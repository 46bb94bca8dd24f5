// Charts through Plotly (window.Plotly, from /vendor/plotly.min.js): no hand-drawn charts.
const LAYOUT = { margin: { l: 60, r: 20, t: 30, b: 40 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff", font: { family: "system-ui, sans-serif", size: 12 }, legend: { orientation: "h" } };
const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"] };

export function bars(node, x, series, { title = "", yTitle = "", stacked = false, lines = [] } = {}) {
  const traces = series.map((s) => ({ type: "bar", name: s.name, x, y: s.values }));
  for (const l of lines) traces.push({ type: "scatter", mode: "lines", name: l.name, x: l.x || x, y: l.values, line: { dash: "dot" } });
  return window.Plotly.react(node, traces, { ...LAYOUT, title: { text: title }, barmode: stacked ? "stack" : "group", yaxis: { title: { text: yTitle } } }, CONFIG);
}

export function sankey(node, labels, sources, targets, values) {
  const trace = { type: "sankey", orientation: "h", node: { label: labels, pad: 14, thickness: 16 }, link: { source: sources, target: targets, value: values } };
  return window.Plotly.react(node, [trace], { ...LAYOUT, title: { text: "" } }, CONFIG);
}
