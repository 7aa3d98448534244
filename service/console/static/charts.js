// Charts drawn as inline SVG, by hand: no library, nothing fetched. Every chart comes with its
// figures as a table (the text alternative a screen reader reads, and anyone may check), and its
// series are told apart by line style and marker shape as well as colour.

import { el } from "/console/static/console.js";

const SVG = "http://www.w3.org/2000/svg";
// Colour-blind-safe (Okabe–Ito), each at least 3:1 on white as non-text contrast requires.
const COLOURS = ["#0072b2", "#b35900", "#007a5e", "#b0306f", "#5a4a9c", "#6b6b00", "#333333"];
const DASHES = ["", "6 3", "2 3", "8 3 2 3", "4 4", "1 2", "10 4"];
const WIDTH = 640;
const HEIGHT = 260;
const MARGIN = { top: 16, right: 30, bottom: 44, left: 52 };

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A marker of one of several shapes, so a series is known without its colour.
function marker(index, x, y, colour) {
  const shape = index % 4;
  const common = { fill: colour, stroke: colour, "stroke-width": 1 };
  if (shape === 0) return svg("circle", { cx: x, cy: y, r: 4, ...common });
  if (shape === 1) return svg("rect", { x: x - 4, y: y - 4, width: 8, height: 8, ...common });
  if (shape === 2) return svg("path", { d: `M${x},${y - 5} L${x + 5},${y + 4} L${x - 5},${y + 4} Z`, ...common });
  return svg("path", { d: `M${x},${y - 5} L${x + 5},${y} L${x},${y + 5} L${x - 5},${y} Z`, ...common });
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

function axes(plot, yMax, format, yLabel) {
  const { left, top, width, height } = plot;
  const parts = [];
  for (let i = 0; i <= 4; i++) {
    const value = (yMax * i) / 4;
    const y = top + height - (height * i) / 4;
    parts.push(svg("line", { x1: left, x2: left + width, y1: y, y2: y, stroke: "#d0d3d8", "stroke-width": 1 }));
    parts.push(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "chart-tick" }, format(value)));
  }
  parts.push(svg("line", { x1: left, x2: left + width, y1: top + height, y2: top + height, stroke: "#1b1b1b" }));
  parts.push(svg("line", { x1: left, x2: left, y1: top, y2: top + height, stroke: "#1b1b1b" }));
  if (yLabel) {
    parts.push(
      svg(
        "text",
        { x: 14, y: top + height / 2, transform: `rotate(-90 14 ${top + height / 2})`, "text-anchor": "middle", class: "chart-axis" },
        yLabel,
      ),
    );
  }
  return parts;
}

function xAt(plot, count, i) {
  return count <= 1 ? plot.left + plot.width / 2 : plot.left + (plot.width * i) / (count - 1);
}

function legend(series, bars) {
  return el(
    "ul",
    { className: "chart-legend" },
    series.map((s, i) => el("li", {}, bars ? barKey(i) : legendKey(i), " ", s.name)),
  );
}

function barKey(i) {
  return svg(
    "svg",
    { width: 14, height: 14, viewBox: "0 0 14 14", "aria-hidden": "true", focusable: "false" },
    svg("rect", { x: 1, y: 1, width: 12, height: 12, fill: COLOURS[i % COLOURS.length], stroke: "#1b1b1b", "stroke-width": 0.5 }),
  );
}

function legendKey(i) {
  const colour = COLOURS[i % COLOURS.length];
  return svg(
    "svg",
    { width: 34, height: 12, viewBox: "0 0 34 12", "aria-hidden": "true", focusable: "false" },
    svg("line", { x1: 1, x2: 33, y1: 6, y2: 6, stroke: colour, "stroke-width": 2.5, "stroke-dasharray": DASHES[i % DASHES.length] }),
    marker(i, 17, 6, colour),
  );
}

// The figures behind a chart: one row per interval, one column per series.
function figuresTable(caption, xHeading, xLabels, series, format) {
  return el(
    "table",
    { className: "chart-figures" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, xHeading), series.map((s) => el("th", { scope: "col" }, s.name)))),
    el(
      "tbody",
      {},
      xLabels.map((label, i) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, label),
          series.map((s) => el("td", {}, s.values[i] === null || s.values[i] === undefined ? "no data" : format(s.values[i]))),
        ),
      ),
    ),
  );
}

// The figures in words, for the chart's description: what a screen reader says for the image.
function spoken(xLabels, series, format) {
  return series
    .map((s) => {
      const measured = xLabels
        .map((label, i) => (typeof s.values[i] === "number" ? `${label} ${format(s.values[i])}` : null))
        .filter(Boolean);
      return `${s.name}: ${measured.length ? measured.join(", ") : "no data"}.`;
    })
    .join(" ");
}

let chartCount = 0;

// A line chart over intervals. `series`: [{name, values: [number|null per interval]}]; a null is a
// gap (nothing to measure then), never drawn as zero. `target`: an optional {value, label} line.
export function lineChart({ title, description, xLabels, xHeading = "Period", series, yLabel, format = String, yMax, target }) {
  const id = `chart-${++chartCount}`;
  const plot = { left: MARGIN.left, top: MARGIN.top, width: WIDTH - MARGIN.left - MARGIN.right, height: HEIGHT - MARGIN.top - MARGIN.bottom };
  const values = series.flatMap((s) => s.values).filter((v) => typeof v === "number");
  const top = yMax ?? niceMax(Math.max(...values, target ? target.value : 0, 0) * 1.1);
  const yAt = (v) => plot.top + plot.height - (plot.height * v) / top;
  const drawn = [];
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    // Consecutive measured points are joined; a gap breaks the line.
    let path = "";
    let joined = false;
    s.values.forEach((v, j) => {
      if (typeof v !== "number") {
        joined = false;
        return;
      }
      path += `${joined ? "L" : "M"}${xAt(plot, xLabels.length, j)},${yAt(v)} `;
      joined = true;
    });
    if (path) {
      drawn.push(
        svg("path", { d: path.trim(), fill: "none", stroke: colour, "stroke-width": 2.5, "stroke-dasharray": DASHES[i % DASHES.length] }),
      );
    }
    s.values.forEach((v, j) => {
      if (typeof v === "number") drawn.push(marker(i, xAt(plot, xLabels.length, j), yAt(v), colour));
    });
  });
  if (target) {
    const y = yAt(target.value);
    drawn.push(svg("line", { x1: plot.left, x2: plot.left + plot.width, y1: y, y2: y, stroke: "#a4001d", "stroke-width": 1.5, "stroke-dasharray": "3 3" }));
    drawn.push(svg("text", { x: plot.left + plot.width - 4, y: y - 5, "text-anchor": "end", class: "chart-target" }, target.label));
  }
  return figure(id, title, description, plot, xLabels, top, format, yLabel, drawn, series, xHeading, values.length === 0);
}

// Bars per interval, one bar per series side by side (counts).
export function barChart({ title, description, xLabels, xHeading = "Period", series, yLabel, format = String }) {
  const id = `chart-${++chartCount}`;
  const plot = { left: MARGIN.left, top: MARGIN.top, width: WIDTH - MARGIN.left - MARGIN.right, height: HEIGHT - MARGIN.top - MARGIN.bottom };
  const values = series.flatMap((s) => s.values).filter((v) => typeof v === "number");
  // Counts: at least 4 so the quarter ticks are whole numbers.
  const top = Math.max(4, Math.ceil(niceMax(Math.max(...values, 0) * 1.1) / 4) * 4);
  const slot = plot.width / Math.max(1, xLabels.length);
  const barWidth = Math.max(2, Math.min(18, (slot * 0.8) / Math.max(1, series.length)));
  const drawn = [];
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    s.values.forEach((v, j) => {
      if (typeof v !== "number" || v <= 0) return;
      const height = (plot.height * v) / top;
      const x = plot.left + slot * j + slot / 2 - (barWidth * series.length) / 2 + barWidth * i;
      drawn.push(
        svg("rect", { x, y: plot.top + plot.height - height, width: barWidth - 1, height, fill: colour, stroke: "#1b1b1b", "stroke-width": 0.5 }),
      );
    });
  });
  // Bars sit in slots, not on points: label the slot centres.
  const barPlot = { ...plot, left: plot.left + slot / 2, width: plot.width - slot };
  return figure(id, title, description, plot, xLabels, top, format, yLabel, drawn, series, xHeading, values.length === 0, barPlot);
}

function figure(id, title, description, plot, xLabels, top, format, yLabel, drawn, series, xHeading, empty, labelPlot = plot) {
  const grid = axes(plot, top, format, yLabel);
  const step = Math.max(1, Math.ceil(xLabels.length / 8));
  xLabels.forEach((label, i) => {
    if (i % step === 0) {
      grid.push(
        svg("text", { x: xAt(labelPlot, xLabels.length, i), y: plot.top + plot.height + 18, "text-anchor": "middle", class: "chart-tick" }, label),
      );
    }
  });
  const chart = svg(
    "svg",
    {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-labelledby": `${id}-title ${id}-desc`,
      class: "chart",
    },
    svg("title", { id: `${id}-title` }, title),
    svg("desc", { id: `${id}-desc` }, `${description} ${spoken(xLabels, series, format)}`),
    grid,
    drawn,
  );
  return el(
    "figure",
    { className: "chart-figure", id, "aria-labelledby": `${id}-caption` },
    el("figcaption", { id: `${id}-caption` }, el("strong", {}, title), el("span", { className: "hint" }, description)),
    empty ? el("p", { className: "notice" }, "Nothing to measure in this period.") : null,
    chart,
    legend(series, labelPlot !== plot),
    el(
      "details",
      { className: "chart-details" },
      el("summary", {}, "Figures as a table"),
      figuresTable(`${title}: figures`, xHeading, xLabels, series, format),
    ),
  );
}
