// What to do about a failure of each class, in the words `proxyctl doctor` uses for its fixes:
// said beside the last errors by `proxyctl errors` and the dashboard.
import { BLOCKED_ADVICE } from '../errors.js';

export function adviceFor(cls: string, hop: string | undefined): string {
  const upstream = hop === 'upstream';
  switch (cls) {
    case 'dns':
      return 'the name does not resolve: `proxyctl route HOST` shows the lookup; check the DNS servers in /etc/resolv.conf, or set hosts: { HOST: ADDRESS }';
    case 'refused':
      return upstream
        ? 'the upstream proxy refuses connections: is it running, is its server: right? (`proxyctl upstreams`)'
        : 'nothing listens there (is the port right, is the service up?); `proxyctl doctor HOST:PORT` tries every route';
    case 'unreachable':
      return 'no path to the host (host or network unreachable): add an upstream proxy that has one, and a rule that sends the host there (`proxyctl doctor HOST`)';
    case 'blocked':
      return BLOCKED_ADVICE;
    case 'timeout':
      return 'no answer in time: something drops it on the path, or the server is slow; `proxyctl doctor HOST` tells filtered from slow and names a route that works';
    case 'reset':
      return hop === 'client' || hop === 'proxyd'
        ? 'the client left, or the connection was closed on purpose (proxyctl connections --close, the dashboard)'
        : 'the server, or a firewall in front of it, closes the connection: try another upstream proxy (`proxyctl doctor HOST`)';
    case 'tls':
      return 'the TLS handshake failed: `proxyctl doctor HOST` shows the certificate the host answers with (a middlebox on the path answers with its own)';
    case 'rejected':
      return 'a REJECT rule, or a connection back into proxyd itself: `proxyctl route HOST` names the rule';
    case 'auth':
      return upstream
        ? "the upstream proxy refused proxyd's user name or password: check username and password of that proxy under proxies:"
        : 'a client sent a wrong user name or password, or none (auth:): check the credentials in its proxy URL';
    case 'protocol':
      return hop === 'client'
        ? 'a client sent something proxyd does not accept (the reason says what); a tool speaking HTTPS to the HTTP port needs the proxy URL http://, not https://'
        : 'the next hop answered something that is not its protocol: a captive portal, or a proxy of another type than its type: says (socks5 | http)';
    case 'internal':
      return 'a bug in proxyd: its stack is in the log; please report it';
    default:
      return 'see the reason';
  }
}
