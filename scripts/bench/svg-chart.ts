/**
 * A self-contained SVG line chart of send-ack latency against offered load: p50 and p99 on a
 * logarithmic left axis (latency spans orders of magnitude near saturation), achieved rate on a
 * right axis scaled like the x axis, so keeping up shows as the dotted diagonal.
 */

export interface LoadPoint {
  offeredPerSec: number;
  achievedPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

const WIDTH = 860;
const HEIGHT = 500;
const PLOT = { left: 80, right: WIDTH - 90, top: 74, bottom: HEIGHT - 92 };
const COLORS = { p50: '#1f77b4', p99: '#d62728', achieved: '#2ca02c', grid: '#e0e0e0', axis: '#333' };

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1).replace(/\.0$/, '') : String(Number(n.toPrecision(2))));

/** About `count` round tick values from 0 to at least `max`. */
function linearTicks(max: number, count = 6): number[] {
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  return Array.from({ length: Math.ceil(max / step) + 1 }, (_, i) => i * step);
}

/** 1-2-5 ticks covering [min, max]. */
function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) ticks.push(m * 10 ** e);
  }
  const below = ticks.filter((t) => t <= min).pop() ?? ticks[0];
  const above = ticks.find((t) => t >= max) ?? ticks[ticks.length - 1];
  return ticks.filter((t) => t >= below && t <= above);
}

const polyline = (points: [number, number][], color: string, dashed = false) =>
  `<polyline fill="none" stroke="${color}" stroke-width="2"${dashed ? ' stroke-dasharray="6 4"' : ''} points="${points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>` +
  points.map(([x, y]) => `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3.5" fill="${color}"/>`).join('');

const fontAttrs = (size: number) => `font-family="sans-serif" font-size="${size}" fill="#333"`;
const text = (x: number, y: number, s: string, attrs = '') => `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escapeXml(s)}</text>`;

/** `subtitles`: short lines under the title (workload, run date and machine). */
export function latencyChartSvg(points: LoadPoint[], title: string, subtitles: string[]): string {
  const xTicks = linearTicks(Math.max(...points.map((p) => Math.max(p.offeredPerSec, p.achievedPerSec)), 1));
  const xMax = xTicks[xTicks.length - 1];
  const latencies = points.flatMap((p) => [p.p50Ms, p.p99Ms]).map((v) => Math.max(v, 0.1));
  const yTicks = logTicks(Math.min(...latencies), Math.max(...latencies));
  const [yMin, yMax] = [yTicks[0], yTicks[yTicks.length - 1]];
  const x = (v: number) => PLOT.left + (v / xMax) * (PLOT.right - PLOT.left);
  const yLatency = (ms: number) =>
    PLOT.bottom - ((Math.log10(Math.max(ms, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin) || 1)) * (PLOT.bottom - PLOT.top);
  const yRate = (v: number) => PLOT.bottom - (v / xMax) * (PLOT.bottom - PLOT.top);
  const font = fontAttrs(12);

  const grid = [
    ...xTicks.map(
      (t) =>
        `<line x1="${x(t)}" y1="${PLOT.top}" x2="${x(t)}" y2="${PLOT.bottom}" stroke="${COLORS.grid}"/>` +
        text(x(t), PLOT.bottom + 18, num(t), `${font} text-anchor="middle"`),
    ),
    ...yTicks.map(
      (t) =>
        `<line x1="${PLOT.left}" y1="${yLatency(t)}" x2="${PLOT.right}" y2="${yLatency(t)}" stroke="${COLORS.grid}"/>` +
        text(PLOT.left - 8, yLatency(t) + 4, num(t), `${font} text-anchor="end"`),
    ),
    ...xTicks.map((t) => text(PLOT.right + 8, yRate(t) + 4, num(t), `${font} text-anchor="start"`)),
  ];
  const axes = [
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="${COLORS.axis}"/>`,
    text((PLOT.left + PLOT.right) / 2, PLOT.bottom + 40, 'offered load (messages/s)', `${font} text-anchor="middle"`),
    text(
      20,
      (PLOT.top + PLOT.bottom) / 2,
      'send-ack latency (ms, log scale)',
      `${font} text-anchor="middle" transform="rotate(-90 20 ${(PLOT.top + PLOT.bottom) / 2})"`,
    ),
    text(
      WIDTH - 18,
      (PLOT.top + PLOT.bottom) / 2,
      'achieved (acknowledged messages/s)',
      `${font} text-anchor="middle" transform="rotate(90 ${WIDTH - 18} ${(PLOT.top + PLOT.bottom) / 2})"`,
    ),
  ];
  const series = [
    `<line x1="${x(0)}" y1="${yRate(0)}" x2="${x(xMax)}" y2="${yRate(xMax)}" stroke="${COLORS.achieved}" stroke-width="1" stroke-dasharray="2 3"/>`,
    polyline(
      points.map((p) => [x(p.offeredPerSec), yRate(p.achievedPerSec)]),
      COLORS.achieved,
      true,
    ),
    polyline(
      points.map((p) => [x(p.offeredPerSec), yLatency(p.p50Ms)]),
      COLORS.p50,
    ),
    polyline(
      points.map((p) => [x(p.offeredPerSec), yLatency(p.p99Ms)]),
      COLORS.p99,
    ),
  ];
  const legend = (
    [
      ['p50 send-ack latency (left axis)', COLORS.p50, false],
      ['p99 send-ack latency (left axis)', COLORS.p99, false],
      ['achieved rate (right axis; dotted: = offered)', COLORS.achieved, true],
    ] as const
  ).map(([label, color, dashed], i) => {
    const [lx, ly] = [PLOT.left + i * 235, HEIGHT - 18];
    return (
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 24}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${dashed ? ' stroke-dasharray="6 4"' : ''}/>` +
      text(lx + 30, ly, label, fontAttrs(11))
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    text(WIDTH / 2, 22, title, `${fontAttrs(15)} font-weight="bold" text-anchor="middle"`),
    ...subtitles.map((line, i) => text(WIDTH / 2, 42 + i * 16, line, `${fontAttrs(11)} text-anchor="middle"`)),
    ...grid,
    ...axes,
    ...series,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
