// What proxyctl env, setup and the settings audit know of the running daemon: its listeners as
// bound (GET /status), its mirrors with their health, and the hosts its rules send DIRECT
// (GET /clients); credentials come from the environment of the user who runs proxyctl.
import { CaReport, Status } from '../control/api.js';
import { ClientSettings, type ClientMirror } from '../control/api.js';
import { ControlClient, Failed } from '../control/client.js';
import type { DirectHost } from '../router/direct-hosts.js';

export const USER_VAR = 'PROXYD_USER';
export const PASSWORD_VAR = 'PROXYD_PASSWORD';

export interface Endpoint {
  /** what a tool connects to: a wildcard bind is reached on loopback */
  host: string;
  port: number;
}

/** how the mirror's health report names an origin among its upstreams */
const ORIGIN_SUFFIX = ' (origin)';

export interface MirrorView extends ClientMirror {
  /** every upstream failed its checks: only the origin, through the fallback route, is left */
  down: boolean;
  /** the health report's word for it */
  why: string;
}

export interface DaemonView {
  /** the control socket it answered on */
  control: string;
  http?: Endpoint;
  socks?: Endpoint;
  auth: boolean;
  credentials?: { user: string; password: string };
  mirrors: MirrorView[];
  direct: DirectHost[];
  directOmitted: number;
  /** the local CA, when a mirror intercepts */
  ca?: CaReport;
}

export async function viewDaemon(client: ControlClient, env: NodeJS.ProcessEnv = process.env): Promise<DaemonView> {
  const [status, clients] = await Promise.all([client.report('GET', '/status', Status), client.report('GET', '/clients', ClientSettings)]);
  const listener = (name: string) => {
    const l = status.listeners.find((x) => x.name === name);
    return l ? endpointOf(l.address) : undefined;
  };
  const user = env[USER_VAR];
  const password = env[PASSWORD_VAR];
  return {
    control: status.control,
    http: listener('http'),
    socks: listener('socks'),
    auth: clients.auth,
    ...(user !== undefined && password !== undefined && { credentials: { user, password } }),
    mirrors: clients.mirrors.map((m) => {
      const health = status.mirrors.find((g) => g.name === m.name);
      const upstreams = health?.members.filter((x) => !x.name.endsWith(ORIGIN_SUFFIX)) ?? [];
      const down = upstreams.length > 0 && upstreams.every((x) => x.status === 'down');
      return { ...m, down, why: health?.why ?? '' };
    }),
    direct: clients.direct,
    directOmitted: clients.directOmitted,
    ...(status.ca && { ca: status.ca }),
  };
}

/** `127.0.0.1:8080`, `[::1]:8080`; the unspecified address is reached on loopback */
export function endpointOf(address: string): Endpoint {
  const m = address.match(/^\[?(.*?)\]?:(\d+)$/);
  if (!m) throw new Failed(`the daemon reported a listener at "${address}", which is not HOST:PORT`);
  const host = m[1] === '0.0.0.0' ? '127.0.0.1' : m[1] === '::' ? '::1' : m[1]!;
  return { host, port: Number(m[2]) };
}

export function hostPort(e: Endpoint): string {
  return `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}

/** Each listener takes both protocols: the HTTP one for http://, the SOCKS one for socks5h://, either when the other is off. */
export function proxyUrl(view: DaemonView, scheme: 'http' | 'socks5h'): string {
  const at = scheme === 'http' ? view.http ?? view.socks : view.socks ?? view.http;
  return `${scheme}://${userInfo(view)}${hostPort(listening(at))}`;
}

/** a mirror's endpoint on the HTTP listener (the SOCKS one when HTTP is off), with the credentials it asks for */
export function mirrorUrl(view: DaemonView, mirror: ClientMirror): string {
  return `http://${userInfo(view)}${hostPort(listening(view.http ?? view.socks))}${mirror.path}`;
}

function listening(at: Endpoint | undefined): Endpoint {
  if (!at) throw new Failed('the daemon has no listener (listen: both off)');
  return at;
}

/** `user:password@` when the daemon asks for them */
function userInfo(view: DaemonView): string {
  if (!view.auth) return '';
  if (!view.credentials) throw new Failed(`the daemon requires a user name and password: set ${USER_VAR} and ${PASSWORD_VAR}`);
  return `${encodeURIComponent(view.credentials.user)}:${encodeURIComponent(view.credentials.password)}@`;
}

export function mirrorOf(view: DaemonView, kind: string): MirrorView | undefined {
  return view.mirrors.find((m) => m.kind === kind);
}

/** NO_PROXY's entries: loopback (where the mirrors answer), then the internal hosts the rules send DIRECT */
export function noProxyEntries(view: DaemonView): string[] {
  const listeners = [view.http?.host, view.socks?.host].filter((h): h is string => !!h);
  const entries = ['localhost', '127.0.0.1', '::1', ...listeners, ...view.direct.map((d) => (d.kind === 'below' ? `.${d.value}` : d.value))];
  return [...new Set(entries)];
}
