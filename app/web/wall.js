// GreenPulse wall screen: live figures over a websocket, REST polling while it is down.
// Plain ES modules, no build step, no dependencies: dom (state and helpers), format,
// clock, connection, status (the one screen state), render and chart.
import { figure, setFigure, site } from "./wall/dom.js";
import { startConnection } from "./wall/connection.js";
import { drawChart } from "./wall/chart.js";
import { fitAll, render } from "./wall/render.js";
import { updateStatus } from "./wall/status.js";

const tick = () => updateStatus(fitAll);

setInterval(tick, 1000);
window.addEventListener("resize", fitAll);
// banners coming and going resize the chart's box: draw it again at its new size
new ResizeObserver(() => drawChart()).observe(figure("power-chart"));
setFigure("site-name", site, site);
tick();
startConnection(render, tick);
