// Should ssh to GitHub use ssh.github.com:443? Asked of the daemon: a tunnel to github.com:22
// through its SOCKS5 listener (the route the rules give it); when that port is filtered, refused
// or unreachable and ssh.github.com:443 answers, port 443 it is. Only the daemon's route is tried
// here; `proxyctl doctor` tries every route.
import { openTunnel, TunnelFailure, type TunnelFailureKind } from '../connect/tunnel.js';
import type { DaemonView } from './daemon-view.js';
import { GITHUB_SSH_443 } from './ssh-config.js';

/** the failures that mean "port 22 does not get through" (rather than "proxyd said no") */
const BLOCKED: ReadonlySet<TunnelFailureKind> = new Set(['ttlExpired', 'networkUnreachable', 'hostUnreachable', 'connectionRefused']);

export async function sshOver443(view: DaemonView, timeoutMs: number): Promise<{ via443: boolean; why: string }> {
  const via = view.socks ?? view.http;
  if (!via) return { via443: false, why: 'the daemon has no listener to probe through' };
  const options = { via, credentials: view.credentials, timeoutMs };
  const probe = (host: string, port: number) => openTunnel({ host, port }, options).then((s) => void s.destroy());
  try {
    await probe('github.com', 22);
    return { via443: false, why: 'github.com:22 answers through proxyd' };
  } catch (err) {
    if (!(err instanceof TunnelFailure) || !BLOCKED.has(err.kind)) return { via443: false, why: `port 22 not probed: ${(err as Error).message}` };
    try {
      await probe(GITHUB_SSH_443.host, GITHUB_SSH_443.port);
      return { via443: true, why: `${err.message}; ${GITHUB_SSH_443.host}:${GITHUB_SSH_443.port} answers` };
    } catch (err443) {
      return { via443: false, why: `${err.message}, and ${(err443 as Error).message}` };
    }
  }
}
