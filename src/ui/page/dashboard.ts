// The dashboard's script, run by the browser (compiled by tsc with the rest, served as
// /assets/dashboard.js; no framework, no bundler). The server renders every section; this only:
//   - on /sign-in, trades the token in the link's fragment for the session cookie, drops it from
//     the address bar and the history, and opens the dashboard;
//   - keeps the sections live from /events, and says when proxyd is gone (and when it is back);
//   - sends the page's actions (close a connection, check a group, reload) and shows their answers;
//   - pages and filters the open connections without reloading the page.
export {};

const TOKEN_IN_FRAGMENT = /^#token=([A-Za-z0-9_-]{16,128})$/;
/** how long to wait before asking a gone daemon again: doubling up to the last, then staying there */
const RETRY_MS = [1_000, 2_000, 4_000, 8_000, 15_000];

const byId = (id: string) => document.getElementById(id);

function say(id: string, text: string, kind = ''): void {
  const el = byId(id);
  if (!el) return;
  el.textContent = text;
  el.className = kind;
}

async function signIn(): Promise<void> {
  const m = TOKEN_IN_FRAGMENT.exec(location.hash);
  // the token leaves the address bar (and so the history) before anything else happens
  history.replaceState(null, '', location.pathname);
  if (!m) return say('sign-in-state', 'This link holds no token: open the one `proxyctl ui` prints.', 'bad');
  const answer = await fetch('/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: m[1] }) });
  if (answer.status === 204) return location.replace('/');
  const reason = ((await answer.json().catch(() => ({}))) as { error?: string }).error ?? `HTTP ${answer.status}`;
  say('sign-in-state', reason, 'bad');
}

class Live {
  #source: EventSource | undefined;
  #failures = 0;
  #retry: number | undefined;

  start(): void {
    clearTimeout(this.#retry);
    this.#source?.close();
    const source = new EventSource(`/events${location.search}`);
    this.#source = source;
    source.addEventListener('sections', (e) => {
      this.#failures = 0;
      const { at, sections } = JSON.parse((e as MessageEvent<string>).data) as { at: string; sections: Record<string, string> };
      for (const [id, markup] of Object.entries(sections)) {
        const el = byId(id);
        if (el) el.innerHTML = markup; // made by the server, every value escaped
      }
      say('live', `live · ${at.slice(11, 19)} UTC`, 'live on');
    });
    source.addEventListener('error', () => {
      source.close();
      void this.#lost();
    });
  }

  /** The stream ended: is proxyd gone, restarted (the session with it), or was it a moment's break? */
  async #lost(): Promise<void> {
    let status: number | undefined;
    try {
      status = (await fetch('/api/session', { cache: 'no-store' })).status;
    } catch {
      status = undefined;
    }
    if (status === 401) return say('live', 'signed out: proxyd restarted (or the session ended). Run proxyctl ui for a new link.', 'live gone');
    const wait = RETRY_MS[Math.min(this.#failures, RETRY_MS.length - 1)]!;
    this.#failures++;
    if (status === undefined) say('live', `proxyd is not answering: stopped, or restarting. Trying again in ${wait / 1000} s…`, 'live gone');
    this.#retry = window.setTimeout(() => this.start(), wait);
  }
}

async function act(method: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await fetch(path, { method });
  const body = (await answer.json().catch(() => ({}))) as Record<string, unknown>;
  return { status: answer.status, body };
}

function toast(text: string, kind = ''): void {
  say('toast', text, `shown ${kind}`);
}

interface ReloadAnswer {
  ok: boolean;
  dryRun: boolean;
  file: string;
  errors: Array<{ text: string }>;
  changes: string[];
  error?: string;
}

/** the reload's answer as proxyctl reload prints it */
function showReload(r: ReloadAnswer): void {
  const out = byId('reload-result')!;
  out.replaceChildren();
  const head = document.createElement('p');
  const lines = document.createElement('pre');
  if (r.error) head.textContent = r.error;
  else if (!r.ok) {
    head.textContent = `reload refused: ${r.errors.length} error(s) in ${r.file}; the running config stays`;
    lines.textContent = r.errors.map((e) => e.text).join('\n');
  } else if (!r.changes.length) head.textContent = r.dryRun ? `${r.file}: valid; a reload would change nothing` : `reloaded ${r.file}: nothing changed`;
  else {
    head.textContent = r.dryRun ? `${r.file}: valid; a reload would change:` : `reloaded ${r.file}:`;
    lines.textContent = r.changes.map((c) => `  ${c}`).join('\n');
  }
  out.className = r.ok && !r.error ? 'ok' : 'bad';
  out.append(head);
  if (lines.textContent) out.append(lines);
}

function dashboard(): void {
  const live = new Live();
  live.start();
  document.addEventListener('click', (e) => {
    const target = e.target as Element;
    const close = target.closest<HTMLButtonElement>('button[data-close]');
    const check = target.closest<HTMLButtonElement>('button[data-check]');
    const page = target.closest<HTMLAnchorElement>('a[data-page]');
    if (close) {
      const id = close.dataset.close!;
      close.disabled = true;
      void act('DELETE', `/api/connections/${id}`).then(({ status, body }) =>
        toast(status === 200 ? `closed connection #${id}` : String(body.error ?? `HTTP ${status}`), status === 200 ? 'ok' : 'bad'));
    } else if (check) {
      const name = check.dataset.check!;
      check.disabled = true;
      toast(`checking ${name}…`);
      void act('POST', `/api/check/${encodeURIComponent(name)}`).then(({ status, body }) => {
        check.disabled = false;
        toast(status === 200 ? `checked ${name}: using ${String(body.current ?? '-')} (${String(body.why ?? '')})` : String(body.error ?? `HTTP ${status}`), status === 200 ? 'ok' : 'bad');
      });
    } else if (page) {
      e.preventDefault();
      history.replaceState(null, '', page.search);
      live.start();
    }
  });
  byId('connection-filter')?.addEventListener('submit', (e) => {
    e.preventDefault();
    const filter = ((e.target as HTMLFormElement).elements.namedItem('filter') as HTMLInputElement).value;
    history.replaceState(null, '', filter ? `?${new URLSearchParams({ filter })}` : location.pathname);
    live.start();
  });
  const reload = (dryRun: boolean) => async () => {
    const { status, body } = await act('POST', `/api/reload${dryRun ? '?dry-run=1' : ''}`);
    showReload(status === 200 || status === 422 ? (body as unknown as ReloadAnswer) : ({ error: String(body.error ?? `HTTP ${status}`) } as ReloadAnswer));
  };
  byId('reload-dry-run')?.addEventListener('click', () => void reload(true)());
  byId('reload-apply')?.addEventListener('click', () => void reload(false)());
}

if (document.body.dataset.page === 'sign-in') {
  if (location.pathname === '/sign-in') void signIn();
} else dashboard();
