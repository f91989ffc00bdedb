// The dashboard's documents: the page itself (every section already filled in, so it reads with
// scripts off and in a dumped DOM; the script then keeps the sections live), and the sign-in page
// that trades the link's token for a cookie. Both load only the page's own script and stylesheet.
import { html, type Html } from './html.js';
import type { ConnectionView, LiveSection } from './sections.js';

const HEAD = html`<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/dashboard.css"><script type="module" src="/assets/dashboard.js"></script>`;

/** the sections in the order the page shows them, with their headings */
const LAYOUT: Array<[LiveSection, string]> = [
  ['routes', 'Routes'],
  ['upstreams', 'Upstreams'],
  ['groups', 'Upstream groups'],
  ['mirrors', 'Mirrors'],
  ['connections', 'Open connections'],
  ['errors', 'Last errors'],
  ['rules', 'Rule hits'],
];

export function dashboardPage(sections: Record<LiveSection, Html>, view: ConnectionView, configFile: string, at: Date): string {
  const section = ([id, title]: [LiveSection, string]) => html`<section id="s-${id}" aria-labelledby="h-${id}"><h2 id="h-${id}">${title}</h2>
${id === 'connections' ? html`<form id="connection-filter" method="get" action="/"><input name="filter" type="search" value="${view.filter}" placeholder="client, target, route or rule" aria-label="show the connections whose client, target, route or rule holds"><button type="submit">filter</button></form>` : ''}
<div id="${id}" class="live-section">${sections[id]}</div></section>`;
  return `<!doctype html>\n${html`<html lang="en"><head>${HEAD}<title>proxyd dashboard</title></head>
<body data-page="dashboard">
<header class="top"><h1>proxyd</h1><p id="live" class="live static" role="status">as of ${at.toISOString().slice(11, 19)} UTC (live updates need scripts)</p></header>
<nav class="toc">${LAYOUT.map(([id, title]) => html`<a href="#s-${id}">${title}</a>`)}<a href="#s-reload">Reload</a></nav>
<main>
<section id="s-summary" aria-label="daemon"><div id="summary" class="live-section">${sections.summary}</div></section>
${LAYOUT.map(section)}
<section id="s-reload" aria-labelledby="h-reload"><h2 id="h-reload">Reload</h2>
<p>Re-read <code>${configFile}</code>: first see what would change, then apply it (a config with errors is refused, and the running one stays).</p>
<p><button type="button" id="reload-dry-run">show what would change</button> <button type="button" id="reload-apply">reload</button></p>
<div id="reload-result" role="status"></div></section>
</main>
<div id="toast" role="status" aria-live="polite"></div>
</body></html>`.text}\n`;
}

/** the page a link from `proxyctl ui` opens first (and what a request without a session gets, with 401) */
export function signInPage(why: string): string {
  return `<!doctype html>\n${html`<html lang="en"><head>${HEAD}<title>proxyd dashboard: sign in</title></head>
<body data-page="sign-in"><main class="sign-in"><h1>proxyd</h1>
<p id="sign-in-state">${why}</p>
<p>Open the dashboard with <code>proxyctl ui</code>: it prints a link that holds a token (after <code>#</code>, so it never reaches a server log or your history), and this page trades it for a cookie.</p>
</main></body></html>`.text}\n`;
}
