// `proxyctl stats --watch`: the figures redrawn in place every second, with a sparkline per route
// of its time to first byte (p50 of the last 5 minutes, one point per second), so latency is seen to move.
import type { Stats } from '../control/api.js';
import { bar, bytes, ms, sparkline, table, type Style } from './format.js';
import { statsText } from './render.js';

const POINTS = 40;

export class Watch {
  readonly #history = new Map<string, Array<number | null>>();
  #lastDown = new Map<string, number>();

  /** one frame: the sparkline table, then the usual stats */
  frame(s: Stats, style: Style, intervalS: number): string {
    const maxRate = Math.max(0, ...s.routes.map((r) => this.#rate(r.name, r.bytesDown, intervalS, false)));
    const rows = s.routes.map((r) => {
      const points = this.#history.get(r.name) ?? [];
      points.push(r.ttfbMs.recent.p50);
      if (points.length > POINTS) points.shift();
      this.#history.set(r.name, points);
      const rate = this.#rate(r.name, r.bytesDown, intervalS, true);
      return [r.name, sparkline(points).padStart(POINTS), ms(r.ttfbMs.recent.p50), `${bytes(rate)}/s`, bar(rate, maxRate, 16)];
    });
    const lines = [style.bold(`proxyd stats  ${s.at}`), ''];
    if (rows.length) lines.push(table(['ROUTE', `TTFB p50, last ${POINTS}s`, 'NOW ms', 'DOWN', ''], rows, new Set([2, 3]), style), '');
    lines.push(statsText(s, style));
    return lines.join('\n');
  }

  /** bytes per second down since the previous frame */
  #rate(name: string, down: number, intervalS: number, commit: boolean): number {
    const before = this.#lastDown.get(name);
    if (commit) this.#lastDown.set(name, down);
    return before === undefined ? 0 : Math.max(0, (down - before) / intervalS);
  }
}

/** cursor home, clear the screen below: the frame replaces the previous one */
export const REDRAW = '\x1b[H\x1b[J';
