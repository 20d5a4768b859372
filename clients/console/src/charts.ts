// Small SVG charts (no chart library): horizontal bars for comparisons, a line chart for
// predicted-vs-actual. Every bar and point carries its label and value as data attributes,
// so the browser tests read what was drawn, and a <title> for the value on hover.

import { h } from "./ui";

const NS = "http://www.w3.org/2000/svg";

function s(tag: string, attrs: Record<string, string | number>, ...children: (Node | string)[]): SVGElement {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child);
  return el;
}

export interface Bar {
  label: string;
  value: number;
  /** Extra words after the value (e.g. "3/12 tried"). */
  note?: string;
  /** Drawn in the warning colour (e.g. P(alive) below the churn threshold). */
  warn?: boolean;
}

/** Horizontal bars, one per row, scaled to the largest value (or to `max`). */
export function barChart(options: { test: string; title: string; bars: Bar[]; format?: (n: number) => string; max?: number; empty?: string }): HTMLElement {
  const { bars, format = (n) => String(Math.round(n * 100) / 100) } = options;
  const figure = h("figure", { class: "chart", "data-test": options.test }, h("figcaption", {}, options.title));
  if (bars.length === 0) {
    figure.append(h("p", { class: "muted", "data-test": "chart-empty" }, options.empty ?? "—"));
    return figure;
  }
  const row = 22;
  const labelWidth = 120;
  const valueWidth = 150;
  const width = 520;
  const plot = width - labelWidth - valueWidth;
  const max = options.max ?? Math.max(...bars.map((b) => b.value), 0);
  const svg = s("svg", { viewBox: `0 0 ${width} ${bars.length * row + 4}`, width: "100%", role: "img", "aria-label": options.title });
  bars.forEach((bar, i) => {
    const y = i * row + 2;
    const w = max > 0 ? Math.max((plot * Math.max(bar.value, 0)) / max, bar.value > 0 ? 1 : 0) : 0;
    const text = format(bar.value) + (bar.note ? ` · ${bar.note}` : "");
    svg.append(
      s("text", { x: labelWidth - 6, y: y + 14, "text-anchor": "end", class: "chart-label" }, truncate(bar.label, 14)),
      s("rect", { x: labelWidth, y: y + 3, width: plot, height: row - 8, class: "chart-track" }),
      s(
        "rect",
        { x: labelWidth, y: y + 3, width: w, height: row - 8, class: bar.warn ? "chart-bar warn" : "chart-bar", "data-test": "bar", "data-label": bar.label, "data-value": bar.value },
        s("title", {}, `${bar.label}: ${text}`),
      ),
      s("text", { x: labelWidth + plot + 6, y: y + 14, class: "chart-value" }, text),
    );
  });
  figure.append(svg);
  return figure;
}

export interface Series {
  name: string;
  /** One value per x label; undefined leaves a gap. */
  values: (number | undefined)[];
}

/** Lines over categorical x labels (e.g. visits in the calibration period), with a legend. */
export function lineChart(options: { test: string; title: string; xLabel: string; x: string[]; series: Series[]; format?: (n: number) => string }): HTMLElement {
  const { x, series, format = (n) => String(Math.round(n * 100) / 100) } = options;
  const figure = h("figure", { class: "chart", "data-test": options.test }, h("figcaption", {}, options.title));
  if (x.length === 0) {
    figure.append(h("p", { class: "muted", "data-test": "chart-empty" }, "—"));
    return figure;
  }
  const width = 520;
  const height = 180;
  const left = 40;
  const bottom = 30;
  const top = 10;
  const right = 10;
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  const max = Math.max(...all, 0) || 1;
  const step = x.length > 1 ? (width - left - right) / (x.length - 1) : 0;
  const px = (i: number) => left + (x.length > 1 ? i * step : (width - left - right) / 2);
  const py = (v: number) => top + (height - top - bottom) * (1 - v / max);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": options.title });
  // Axes with the top value and zero, and every x label.
  svg.append(
    s("line", { x1: left, y1: top, x2: left, y2: height - bottom, class: "chart-axis" }),
    s("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, class: "chart-axis" }),
    s("text", { x: left - 4, y: top + 8, "text-anchor": "end", class: "chart-value" }, format(max)),
    s("text", { x: left - 4, y: height - bottom, "text-anchor": "end", class: "chart-value" }, "0"),
    s("text", { x: width - right, y: height - 2, "text-anchor": "end", class: "chart-value" }, options.xLabel),
  );
  x.forEach((label, i) => svg.append(s("text", { x: px(i), y: height - bottom + 14, "text-anchor": "middle", class: "chart-value" }, label)));
  series.forEach((line, n) => {
    const points = line.values.map((v, i) => (v === undefined ? undefined : ([px(i), py(v)] as const)));
    const drawn = points.filter((p): p is readonly [number, number] => p !== undefined);
    svg.append(s("polyline", { points: drawn.map(([a, b]) => `${a},${b}`).join(" "), class: `chart-line series-${n}` }));
    line.values.forEach((v, i) => {
      if (v === undefined) return;
      svg.append(
        s(
          "circle",
          { cx: px(i), cy: py(v), r: 3.5, class: `chart-point series-${n}`, "data-test": "point", "data-series": line.name, "data-x": x[i], "data-value": v },
          s("title", {}, `${line.name} · ${x[i]}: ${format(v)}`),
        ),
      );
    });
  });
  figure.append(svg, h("div", { class: "legend" }, ...series.map((line, n) => h("span", { class: `series-${n}` }, line.name))));
  return figure;
}

/** Counts of `values` in `bins` equal-width bins over [0, 1] (1 falls in the last bin). */
export function histogram(values: number[], bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(Math.max(Math.floor(v * bins), 0), bins - 1)]++;
  return counts;
}

function truncate(text: string, n: number): string {
  return [...text].length > n ? `${[...text].slice(0, n - 1).join("")}…` : text;
}
