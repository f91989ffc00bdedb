// What `proxyctl setup` sets for each tool, from the daemon's listeners, mirrors and DIRECT rules.
import { mirrorOf, mirrorUrl, noProxyEntries, proxyUrl, type DaemonView } from './daemon-view.js';
import type { ToolName } from './tools.js';

export interface Setting {
  key: string;
  /** null: removed */
  value: string | null;
  /** why, for the printed plan */
  why: string;
}

/** the key sum.golang.org is checked with, which the go command has built in */
const GO_SUMDB_NAME = 'sum.golang.org';

export function planFor(tool: ToolName, view: DaemonView): Setting[] {
  return PLANS[tool](view);
}

const PLANS: Record<ToolName, (view: DaemonView) => Setting[]> = {
  git: (view) => [
    { key: 'http.proxy', value: proxyUrl(view, 'http'), why: 'every http(s):// remote through proxyd' },
    // internal hosts straight, as the rules send them
    ...view.direct.filter((d) => d.kind !== 'cidr').flatMap((d) => [
      ...(d.kind !== 'below' ? [`https://${d.value}`] : []),
      ...(d.kind !== 'name' ? [`https://*.${d.value}`] : []),
    ]).map((url) => ({ key: `http.${url}.proxy`, value: '', why: 'DIRECT in the rules: reached without proxyd' })),
  ],
  go: (view) => {
    const settings: Setting[] = [];
    const mirror = mirrorOf(view, 'goproxy');
    if (mirror) {
      const url = mirrorUrl(view, mirror);
      settings.push({ key: 'GOPROXY', value: `${url},direct`, why: `proxyd's Go mirror "${mirror.name}"` });
      if (mirror.sumdbKey !== 'off') {
        const name = mirror.sumdbKey.split('+')[0]!;
        const key = name === GO_SUMDB_NAME ? GO_SUMDB_NAME : mirror.sumdbKey;
        settings.push({ key: 'GOSUMDB', value: `${key} ${url}/sumdb/${name}`, why: 'the checksum database through the same mirror' });
      }
    }
    const names = privatePatterns(view);
    if (names.length) settings.push({ key: 'GOPRIVATE', value: names.join(','), why: 'DIRECT in the rules: not asked of public proxies or the checksum database' });
    return settings;
  },
  npm: (view) => {
    const mirror = mirrorOf(view, 'npm');
    const proxy = proxyUrl(view, 'http');
    return [
      ...(mirror ? [{ key: 'registry', value: `${mirrorUrl(view, mirror)}/`, why: `proxyd's npm mirror "${mirror.name}"` }] : []),
      { key: 'proxy', value: proxy, why: 'everything else (git dependencies, other registries) through proxyd' },
      { key: 'https-proxy', value: proxy, why: 'the same for https://' },
      // the mirror answers on loopback: through the proxy it would be a request to proxyd's own listener
      { key: 'noproxy', value: noProxyEntries(view).join(','), why: 'loopback (the mirror) and DIRECT hosts without the proxy' },
    ];
  },
  pip: (view) => {
    const mirror = mirrorOf(view, 'pypi');
    // the mirror's pages link to its own endpoint: with it, pip needs no proxy (and a proxy would loop back into proxyd)
    if (mirror) return [{ key: 'global.index-url', value: `${mirrorUrl(view, mirror)}/simple`, why: `proxyd's PyPI mirror "${mirror.name}"` }];
    return [{ key: 'global.proxy', value: proxyUrl(view, 'http'), why: 'pip\'s downloads through proxyd' }];
  },
};

/** GOPRIVATE's patterns for the DIRECT names: a pattern matches a module path's leading elements, so a suffix takes two */
export function privatePatterns(view: DaemonView): string[] {
  return [...new Set(view.direct.filter((d) => d.kind !== 'cidr').flatMap((d) =>
    d.kind === 'name' ? [d.value] : d.kind === 'below' ? [`*.${d.value}`] : [d.value, `*.${d.value}`]))];
}
