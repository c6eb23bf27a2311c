/**
 * A small, dependency-free SVG line chart for loss curves: axes with "nice" ticks, an optional logarithmic y axis,
 * a legend, and one `<path>` per series. Points that cannot be drawn (non-finite values, or values ≤ 0 on a log
 * axis) break the line rather than distort the scale.
 */

/** One line of the chart. */
export interface Series {
  /** Legend label. */
  name: string;
  /** x coordinates (same length as `y`). */
  x: readonly number[];
  /** y coordinates. */
  y: readonly number[];
  /** Stroke colour; default from a colour-blind-friendly palette by series index. */
  color?: string;
}

/** What to draw and how. */
export interface ChartOptions {
  series: readonly Series[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Logarithmic y axis (base 10). Default false. */
  logY?: boolean;
  /** Width and height of the whole image in pixels. Default 800 × 500. */
  width?: number;
  height?: number;
}

/** Okabe–Ito palette (distinguishable with the common colour-vision deficiencies), then a few extra tones. */
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442', '#7f7f7f', '#8c564b'];

/** Escape text for XML content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/**
 * Round-number tick positions covering `[lo, hi]`: steps of 1, 2 or 5 × 10^k chosen so that about `target` ticks
 * fall inside (Heckbert's "nice numbers"). Returns the ticks and the padded range `[first, last]` they span.
 */
export function niceTicks(lo: number, hi: number, target = 6): { ticks: number[]; min: number; max: number } {
  if (!(hi > lo)) {
    // A flat series still needs a visible range around its value.
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, target - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  const first = Math.floor(lo / step) * step;
  const last = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  // Index-based generation avoids accumulating rounding error in the tick values.
  for (let k = 0; first + k * step <= last + step * 1e-9; k++) ticks.push(roundTo(first + k * step, step));
  return { ticks, min: first, max: last };
}

/**
 * Ticks of a base-10 logarithmic axis covering `[lo, hi]` (both > 0): the powers of ten in the range, plus 2× and
 * 5× multiples when the range spans less than three decades. The axis range is widened to whole decades.
 */
export function logTicks(lo: number, hi: number): { ticks: number[]; min: number; max: number } {
  const a = Math.floor(Math.log10(lo));
  // An exact power of ten as the only value would give an empty decade: show the one above it.
  const b = Math.max(Math.ceil(Math.log10(hi)), a + 1);
  const ticks: number[] = [];
  const dense = b - a < 3;
  for (let e = a; e <= b; e++) {
    ticks.push(10 ** e);
    if (dense && e < b) ticks.push(2 * 10 ** e, 5 * 10 ** e);
  }
  return { ticks: ticks.map((t) => Number(t.toPrecision(12))), min: 10 ** a, max: 10 ** b };
}

function roundTo(v: number, step: number): number {
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(v.toFixed(Math.min(20, digits)));
}

/** A compact tick label: plain for moderate magnitudes, exponential (1e-3) otherwise. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e5) return String(Number(v.toPrecision(6)));
  const [m, e] = v.toExponential().split('e');
  const mant = Number(Number(m).toPrecision(3));
  return `${mant === 1 ? '' : `${mant}×`}1e${Number(e)}`;
}

/**
 * Render the chart as a standalone SVG document (UTF-8 text).
 *
 * Layout: the plot area sits inside fixed margins, the legend to its right. On a log axis, values ≤ 0 and
 * non-finite values are not drawn (the line restarts after them); the y range is taken over drawable points only.
 *
 * @throws Error when there is no series, a series' x and y lengths differ, or nothing at all is drawable.
 */
export function lineChart(options: ChartOptions): string {
  const { series, title = '', xLabel = '', yLabel = '', logY = false, width = 800, height = 500 } = options;
  if (series.length === 0) throw new Error('lineChart: no series to draw');
  const drawable = (x: number, y: number) => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0);
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const s of series) {
    if (s.x.length !== s.y.length) throw new Error(`lineChart: series "${s.name}" has ${s.x.length} x and ${s.y.length} y values`);
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i]!;
      const y = s.y[i]!;
      if (!drawable(x, y)) continue;
      xMin = Math.min(xMin, x);
      xMax = Math.max(xMax, x);
      yMin = Math.min(yMin, y);
      yMax = Math.max(yMax, y);
    }
  }
  if (xMin === Infinity) throw new Error(`lineChart: no drawable point${logY ? ' (a log axis needs positive values)' : ''}`);

  // ~8.5 px per character at 12 px covers wide sans fonts (DejaVu Sans), so labels are never clipped.
  const legendWidth = Math.min(300, 44 + 8.5 * Math.max(...series.map((s) => s.name.length)));
  const m = { left: 72, right: legendWidth + 20, top: title ? 44 : 20, bottom: 56 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const xt = niceTicks(xMin, xMax);
  const yt = logY ? logTicks(yMin, yMax) : niceTicks(yMin, yMax);
  const tx = (x: number) => m.left + ((x - xt.min) / (xt.max - xt.min)) * pw;
  const ty = logY
    ? (y: number) => m.top + ph - ((Math.log10(y) - Math.log10(yt.min)) / (Math.log10(yt.max) - Math.log10(yt.min))) * ph
    : (y: number) => m.top + ph - ((y - yt.min) / (yt.max - yt.min)) * ph;
  const f = (v: number) => v.toFixed(2);

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  if (title) parts.push(`<text x="${f(m.left + pw / 2)}" y="26" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(title)}</text>`);

  // Grid and ticks.
  const grid: string[] = [];
  const labels: string[] = [];
  for (const t of xt.ticks) {
    const x = f(tx(t));
    grid.push(`M${x},${f(m.top)}V${f(m.top + ph)}`);
    labels.push(`<text x="${x}" y="${f(m.top + ph + 18)}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`);
  }
  for (const t of yt.ticks) {
    const y = f(ty(t));
    grid.push(`M${f(m.left)},${y}H${f(m.left + pw)}`);
    labels.push(`<text x="${f(m.left - 8)}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(formatTick(t))}</text>`);
  }
  parts.push(`<path class="grid" d="${grid.join('')}" stroke="#e5e5e5" stroke-width="1" fill="none"/>`);
  parts.push(`<rect class="frame" x="${f(m.left)}" y="${f(m.top)}" width="${f(pw)}" height="${f(ph)}" fill="none" stroke="#333333"/>`);
  parts.push(`<g class="ticks">${labels.join('')}</g>`);
  if (xLabel) parts.push(`<text x="${f(m.left + pw / 2)}" y="${f(height - 14)}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  if (yLabel) {
    const cy = f(m.top + ph / 2);
    parts.push(`<text x="18" y="${cy}" text-anchor="middle" transform="rotate(-90 18 ${cy})">${escapeXml(yLabel + (logY ? ' (log scale)' : ''))}</text>`);
  }

  // One path per series; "M" restarts the line after an undrawable point.
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length]!;
    let d = '';
    let pen = false;
    for (let i = 0; i < s.x.length; i++) {
      if (!drawable(s.x[i]!, s.y[i]!)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${f(tx(s.x[i]!))},${f(ty(s.y[i]!))}`;
      pen = true;
    }
    parts.push(
      `<path class="series" data-name="${escapeXml(s.name)}" d="${d}" fill="none" stroke="${escapeXml(color)}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>`,
    );
  });

  // Legend.
  const lx = m.left + pw + 16;
  const legend = series.map((s, k) => {
    const y = m.top + 10 + k * 20;
    const color = s.color ?? PALETTE[k % PALETTE.length]!;
    return (
      `<line x1="${f(lx)}" y1="${f(y)}" x2="${f(lx + 24)}" y2="${f(y)}" stroke="${escapeXml(color)}" stroke-width="3"/>` +
      `<text x="${f(lx + 30)}" y="${f(y)}" dominant-baseline="middle">${escapeXml(s.name)}</text>`
    );
  });
  parts.push(`<g class="legend">${legend.join('')}</g>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
