// The dashboard's live updates: Server-Sent Events, one message a second to each open page with
// the sections that changed since its last one. The work (sampling the history, building the
// reports, rendering) runs only while at least one page listens: the first page starts the
// ticker, the last one to leave stops it, and an idle daemon does nothing for the dashboard.
import type { ServerResponse } from 'node:http';
import type { ControlHandlers } from '../control/server.js';
import type { Stats } from '../stats/stats.js';
import { History } from './history.js';
import { renderSections, type ConnectionView, type DashboardData, type LiveSection } from './view/sections.js';

const TICK_MS = 1_000;

interface Listener {
  res: ServerResponse;
  view: ConnectionView;
  /** each section's HTML as last sent */
  sent: Map<LiveSection, string>;
  /** its socket's buffer is full: nothing more until it drains */
  blocked: boolean;
}

export class LiveFeed {
  readonly #handlers: ControlHandlers;
  readonly #stats: Stats;
  readonly #listeners = new Set<Listener>();
  #history: History | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(handlers: ControlHandlers, stats: Stats) {
    this.#handlers = handlers;
    this.#stats = stats;
  }

  /** pages listening now */
  get listening(): number {
    return this.#listeners.size;
  }

  /** the reports and history at this moment (a first page view starts nothing: its history is the statistics' own minutes) */
  data(now = Date.now()): DashboardData {
    const history = this.#history ?? new History(this.#stats);
    const connections = this.#handlers.connections();
    if (!this.#history) history.sample(connections.connections, now);
    return { now, status: this.#handlers.status(), stats: this.#handlers.stats(), errors: this.#handlers.errors?.() ?? { errors: [] }, connections, history };
  }

  /** Streams to `res` (headers already set by the caller) until it closes: the whole page at once, then what changes. */
  listen(res: ServerResponse, view: ConnectionView): void {
    const listener: Listener = { res, view, sent: new Map(), blocked: false };
    this.#listeners.add(listener);
    res.on('close', () => this.#leave(listener));
    res.on('drain', () => (listener.blocked = false));
    res.write('retry: 2000\n\n');
    if (!this.#history) {
      this.#history = new History(this.#stats);
      this.#sample();
      this.#timer = setInterval(() => this.#tick(), TICK_MS).unref();
    }
    this.#send(listener, this.data(), new Map());
  }

  /** Ends every stream (the daemon stops, or the dashboard moves): pages then say so and retry. */
  close(): void {
    for (const l of this.#listeners) l.res.end();
    this.#listeners.clear();
    this.#stop();
  }

  #leave(listener: Listener): void {
    this.#listeners.delete(listener);
    if (!this.#listeners.size) this.#stop();
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#history = undefined;
  }

  #sample(now = Date.now()): void {
    this.#history?.sample(this.#handlers.connections().connections, now);
  }

  #tick(): void {
    const now = Date.now();
    this.#sample(now);
    const data = this.data(now);
    // listeners with the same view share one render
    const rendered = new Map<string, Record<LiveSection, { text: string }>>();
    for (const l of this.#listeners) if (!l.blocked) this.#send(l, data, rendered);
  }

  #send(l: Listener, data: DashboardData, rendered: Map<string, Record<LiveSection, { text: string }>>): void {
    const key = JSON.stringify(l.view);
    let sections = rendered.get(key);
    if (!sections) rendered.set(key, (sections = renderSections(data, l.view)));
    const changed: Partial<Record<LiveSection, string>> = {};
    for (const [id, h] of Object.entries(sections) as Array<[LiveSection, { text: string }]>) {
      if (l.sent.get(id) === h.text) continue;
      changed[id] = h.text;
      l.sent.set(id, h.text);
    }
    const message = JSON.stringify({ at: new Date(data.now).toISOString(), sections: changed });
    if (!l.res.write(`event: sections\ndata: ${message}\n\n`)) l.blocked = true;
  }
}
