import { BenchError } from './errors.js';

/** One named line (or bar group member) of a plot. */
export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  /**
   * Error half-widths in y, one per point (e.g. the standard deviation over seeds): drawn as a
   * vertical bar y ± e with caps. A point with 0 or no entry gets no bar.
   */
  readonly errors?: readonly number[];
  /** Dashed stroke, e.g. for a theoretical bound beside measured values. */
  readonly dashed?: boolean;
}

export interface LinePlot {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Base-10 logarithmic y axis (values ≤ 0 are left out of the line). */
  readonly logY?: boolean;
  /** Labels for x ticks at these positions instead of automatic ticks (e.g. m = 1, 2, 4 on a log2 axis). */
  readonly xTicks?: readonly { readonly at: number; readonly label: string }[];
}

export interface BarPlot {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly categories: readonly string[];
  readonly series: readonly { readonly name: string; readonly values: readonly number[] }[];
}

const WIDTH = 640;
const HEIGHT = 400;
const MARGIN = { left: 70, right: 170, top: 40, bottom: 56 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#17becf', '#bcbd22'];

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Round numbers for axis ticks: steps of 1, 2 or 5 × 10^k, about `count` of them over [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new BenchError('bad-plot', `niceTicks: range must be finite, got [${lo}, ${hi}]`);
  if (hi <= lo) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  // Integer multiples of the step, rounded to 12 digits, so 3 × 0.2 prints as 0.6 rather than 0.6000000000000001.
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(k === 0 ? 0 : Number((k * step).toPrecision(12)));
  return ticks;
}

function formatTick(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e5 || abs < 1e-3) return value.toExponential(0);
  return String(Number(value.toPrecision(4)));
}

function frame(title: string, xLabel: string, yLabel: string, body: string[]): string {
  const plotBottom = HEIGHT - MARGIN.bottom;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${(MARGIN.left + WIDTH - MARGIN.right) / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<text x="${(MARGIN.left + WIDTH - MARGIN.right) / 2}" y="${plotBottom + 42}" text-anchor="middle">${escape(xLabel)}</text>`,
    `<text x="16" y="${(MARGIN.top + plotBottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(MARGIN.top + plotBottom) / 2})">${escape(yLabel)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function legend(names: readonly { name: string; dashed?: boolean }[]): string[] {
  const x = WIDTH - MARGIN.right + 14;
  return names.flatMap((entry, i) => {
    const y = MARGIN.top + 10 + i * 18;
    const colour = COLOURS[i % COLOURS.length]!;
    return [
      `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${colour}" stroke-width="2.5"${entry.dashed === true ? ' stroke-dasharray="5,3"' : ''}/>`,
      `<text x="${x + 28}" y="${y + 4}">${escape(entry.name)}</text>`,
    ];
  });
}

function axes(xTicks: readonly { at: number; label: string }[], yTicks: readonly { at: number; label: string }[], sx: (x: number) => number, sy: (y: number) => number): string[] {
  const left = MARGIN.left;
  const right = WIDTH - MARGIN.right;
  const top = MARGIN.top;
  const bottom = HEIGHT - MARGIN.bottom;
  const out = [`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#333"/>`];
  for (const t of xTicks) {
    const x = sx(t.at);
    out.push(`<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#333"/>`);
    out.push(`<text x="${x}" y="${bottom + 18}" text-anchor="middle">${escape(t.label)}</text>`);
  }
  for (const t of yTicks) {
    const y = sy(t.at);
    out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<line x1="${left - 5}" y1="${y}" x2="${left}" y2="${y}" stroke="#333"/>`);
    out.push(`<text x="${left - 8}" y="${y + 4}" text-anchor="end">${escape(t.label)}</text>`);
  }
  return out;
}

function span(values: number[]): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/** Sideways shift in pixels between neighbouring series of a line plot with error bars. */
const DODGE = 6;

/** An SVG line plot with axes, ticks, grid lines and a legend. Points must be finite. */
export function linePlot(plot: LinePlot): string {
  const logY = plot.logY === true;
  const usable = plot.series.map((s) => {
    if (s.errors !== undefined && s.errors.length !== s.points.length) {
      throw new BenchError('bad-plot', `linePlot '${plot.title}': series '${s.name}' has ${s.errors.length} errors for ${s.points.length} points`);
    }
    const kept = s.points
      .map((point, i) => ({ point, error: s.errors?.[i] ?? 0 }))
      .filter(({ point: [x, y], error }) => {
        if (!Number.isFinite(x) || !Number.isFinite(y)) throw new BenchError('bad-plot', `linePlot '${plot.title}': points must be finite, got (${x}, ${y}) in '${s.name}'`);
        if (!Number.isFinite(error) || error < 0) throw new BenchError('bad-plot', `linePlot '${plot.title}': errors must be finite and ≥ 0, got ${error} in '${s.name}'`);
        return !logY || y > 0;
      });
    return { ...s, points: kept.map((k) => k.point), errors: kept.map((k) => k.error) };
  });
  const all = usable.flatMap((s) => s.points);
  if (all.length === 0) throw new BenchError('bad-plot', `linePlot '${plot.title}': needs at least one point`);
  const ty = (y: number): number => (logY ? Math.log10(y) : y);
  // Error bars stay inside the plot: the y range covers y ± e (on a log axis only the part above 0).
  const yExtent = usable.flatMap((s) => s.points.flatMap(([, y], i) => [y - s.errors[i]!, y + s.errors[i]!].filter((v) => !logY || v > 0)));
  const [x0, x1] = span(all.map(([x]) => x));
  const [y0, y1] = span(yExtent.map(ty));
  const sx = (x: number): number => MARGIN.left + ((x - x0) / (x1 - x0)) * (WIDTH - MARGIN.left - MARGIN.right);
  const sy = (y: number): number => HEIGHT - MARGIN.bottom - ((y - y0) / (y1 - y0)) * (HEIGHT - MARGIN.top - MARGIN.bottom);
  const xTicks = plot.xTicks?.map((t) => ({ at: t.at, label: t.label })) ?? niceTicks(x0, x1).map((at) => ({ at, label: formatTick(at) }));
  const yTicks = logY
    ? niceTicks(Math.floor(y0), Math.ceil(y1), 6)
        .filter((e) => Number.isInteger(e) && e >= y0 && e <= y1)
        .map((e) => ({ at: e, label: formatTick(10 ** e) }))
    : niceTicks(y0, y1).map((at) => ({ at, label: formatTick(at) }));
  const body = axes(xTicks, yTicks, sx, sy);
  // With error bars on several series, each series is shifted a few pixels sideways (centred on the
  // true x) so that bars at the same x stay apart.
  const dodging = usable.length > 1 && usable.some((s) => s.errors.some((e) => e > 0));
  usable.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const dx = dodging ? (i - (usable.length - 1) / 2) * DODGE : 0;
    const px = (x: number): number => sx(x) + dx;
    const coords = s.points.map(([x, y]) => `${px(x).toFixed(1)},${sy(ty(y)).toFixed(1)}`);
    if (coords.length > 1) {
      body.push(`<polyline points="${coords.join(' ')}" fill="none" stroke="${colour}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="5,3"' : ''}/>`);
    }
    s.points.forEach(([x, y], j) => {
      const e = s.errors[j]!;
      if (e <= 0) return;
      const cx = px(x).toFixed(1);
      const top = sy(ty(y + e)).toFixed(1);
      const bottom = sy(ty(logY ? Math.max(y - e, 10 ** y0) : y - e)).toFixed(1);
      const cap = (at: string) => `<line x1="${(px(x) - 3).toFixed(1)}" y1="${at}" x2="${(px(x) + 3).toFixed(1)}" y2="${at}" stroke="${colour}" stroke-width="1.5"/>`;
      body.push(`<line class="error-bar" x1="${cx}" y1="${top}" x2="${cx}" y2="${bottom}" stroke="${colour}" stroke-width="1.5"/>`, cap(top), cap(bottom));
    });
    if (s.dashed !== true) for (const c of coords) body.push(`<circle cx="${c.split(',')[0]}" cy="${c.split(',')[1]}" r="3" fill="${colour}"/>`);
  });
  body.push(...legend(plot.series));
  return frame(plot.title, plot.xLabel, plot.yLabel, body);
}

/** An SVG grouped bar plot: one group per category, one bar per series. Values must be finite. */
export function barPlot(plot: BarPlot): string {
  for (const s of plot.series) {
    if (s.values.length !== plot.categories.length) {
      throw new BenchError('bad-plot', `barPlot '${plot.title}': series '${s.name}' has ${s.values.length} values for ${plot.categories.length} categories`);
    }
    for (const v of s.values) if (!Number.isFinite(v)) throw new BenchError('bad-plot', `barPlot '${plot.title}': values must be finite, got ${v} in '${s.name}'`);
  }
  const values = plot.series.flatMap((s) => s.values);
  if (values.length === 0) throw new BenchError('bad-plot', `barPlot '${plot.title}': needs at least one value`);
  const [, top] = span([0, ...values]);
  const bottomValue = Math.min(0, ...values);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const groupWidth = plotWidth / plot.categories.length;
  const barWidth = (groupWidth * 0.8) / plot.series.length;
  const sy = (y: number): number => HEIGHT - MARGIN.bottom - ((y - bottomValue) / (top - bottomValue)) * (HEIGHT - MARGIN.top - MARGIN.bottom);
  const sx = (i: number): number => MARGIN.left + (i + 0.5) * groupWidth;
  const label = plot.categories.length > 16 ? (i: number) => i % Math.ceil(plot.categories.length / 16) === 0 : () => true;
  const xTicks = plot.categories.map((c, i) => ({ at: i, label: label(i) ? c : '' }));
  const body = axes(xTicks, niceTicks(bottomValue, top).map((at) => ({ at, label: formatTick(at) })), sx, sy);
  plot.series.forEach((s, k) => {
    const colour = COLOURS[k % COLOURS.length]!;
    s.values.forEach((v, i) => {
      const x = sx(i) - groupWidth * 0.4 + k * barWidth;
      const y = sy(Math.max(v, 0));
      const h = Math.abs(sy(v) - sy(0));
      body.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(barWidth - 1, 0.5).toFixed(1)}" height="${h.toFixed(1)}" fill="${colour}" fill-opacity="0.75"/>`);
    });
  });
  body.push(...legend(plot.series));
  return frame(plot.title, plot.xLabel, plot.yLabel, body);
}
