// The dashboard's charts as SVG text (drawn by the server, so a page reads the same with scripts
// off): latency p50 and p99 over the last 5 minutes (or since the daemon started) on a log scale,
// and a route's download rate as bars. Colours and dashes come from the stylesheet's classes: no style attribute anywhere.
import { bytes, ms } from '../../cli/format.js';
import type { LatencyPoint, RatePoint } from '../history.js';
import { html, type Html } from './html.js';

const W = 300;
const H = 110;
const LEFT = 40;
const BOTTOM = 14;
const TOP = 4;
/** points closer than this are joined by a line; further apart, the line breaks (no samples between) */
const JOIN_MS = 1_000;

const decadeLabel = (v: number) => (v >= 1000 ? `${v / 1000} s` : `${v} ms`);

/** the time a chart spans, ms since the epoch: the last 5 minutes, or since the daemon started */
export interface Span {
  from: number;
  to: number;
}

const spanLabel = (ms: number) => (ms >= 90_000 ? `−${Math.round(ms / 60_000)} min` : `−${Math.max(1, Math.round(ms / 1000))} s`);

/** p50 and p99 of one latency over `span`; `what`: "connect", "first byte" */
export function latencyChart(points: LatencyPoint[], span: Span, what: string): Html {
  const timed = points.filter((p) => p.p50 !== null && p.p99 !== null && p.end > span.from);
  const { from, to } = span;
  const width = Math.max(1, to - from);
  const x = (t: number) => LEFT + ((Math.min(to, Math.max(from, t)) - from) / width) * (W - LEFT - 2);
  const axis = html`<text class="axis" x="${LEFT}" y="${H - 2}">${spanLabel(width)}</text><text class="axis end" x="${W - 2}" y="${H - 2}">now</text>`;
  if (!timed.length) {
    return html`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${what}: no samples in the last 5 minutes"><title>${what}: no samples in the last 5 minutes</title>${axis}<text class="empty" x="${(W + LEFT) / 2}" y="${H / 2}">no samples</text></svg>`;
  }
  const values = timed.flatMap((p) => [p.p50!, p.p99!]).map((v) => Math.max(v, 0.001));
  let lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
  let hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  if (hi <= lo) hi = lo * 10;
  lo = Number(lo.toPrecision(1));
  hi = Number(hi.toPrecision(1));
  const y = (v: number) => TOP + (1 - (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (H - BOTTOM - TOP);
  const grid: Html[] = [];
  for (let v = lo; v <= hi * 1.0001; v = Number((v * 10).toPrecision(1))) {
    grid.push(html`<line class="grid" x1="${LEFT}" x2="${W - 2}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/><text class="axis end" x="${LEFT - 3}" y="${(y(v) + 3).toFixed(1)}">${decadeLabel(v)}</text>`);
  }
  const line = (pick: (p: LatencyPoint) => number) => {
    let d = '';
    let previous: LatencyPoint | undefined;
    for (const p of timed) {
      const px = x((p.start + p.end) / 2).toFixed(1);
      const py = y(pick(p)).toFixed(1);
      d += previous && p.start - previous.end <= JOIN_MS ? ` L${px} ${py}` : ` M${px} ${py} h0.1`;
      previous = p;
    }
    return d.trim();
  };
  const last = timed[timed.length - 1]!;
  const summary = `${what}: p50 ${ms(last.p50)} ms, p99 ${ms(last.p99)} ms in the last slot; ${timed.reduce((n, p) => n + p.count, 0)} samples in the last 5 minutes`;
  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${summary}"><title>${summary}</title>${grid}${axis}<path class="p99" d="${line((p) => p.p99!)}"/><path class="p50" d="${line((p) => p.p50!)}"/></svg>`;
}

/** a route's download rate over `span`, one bar per slot */
export function rateChart(points: RatePoint[], span: Span): Html {
  const width = 120;
  const height = 24;
  const { from } = span;
  const length = Math.max(1, span.to - from);
  const max = Math.max(0, ...points.map((p) => p.down));
  const bars = max > 0
    ? points.filter((p) => p.down > 0 && p.end > from).map((p) => {
      const x0 = ((Math.max(p.start, from) - from) / length) * width;
      const w = Math.max(1, ((p.end - Math.max(p.start, from)) / length) * width);
      const h = Math.max(1, (p.down / max) * height);
      return html`<rect x="${x0.toFixed(1)}" y="${(height - h).toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}"/>`;
    })
    : [];
  const label = max > 0 ? `download up to ${bytes(Math.round(max))}/s in the last 5 minutes` : 'nothing downloaded in the last 5 minutes';
  return html`<svg class="rate" viewBox="0 0 ${width} ${height}" role="img" aria-label="${label}"><title>${label}</title>${bars}</svg>`;
}
