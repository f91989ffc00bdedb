// `proxyctl connect HOST PORT`: a tunnel through the daemon's SOCKS5 listener on stdin/stdout, for
// ssh's ProxyCommand. A failure is one line on stderr and an exit code per reason (connect/tunnel.ts).
import { Command } from 'commander';
import { parseHostPort } from '../address/index.js';
import { Status } from '../control/api.js';
import { ControlClient, Failed } from '../control/client.js';
import { join, openTunnel, TUNNEL_FAILURES, TunnelFailure } from '../connect/tunnel.js';
import { endpointOf, PASSWORD_VAR, USER_VAR } from '../setup/daemon-view.js';
import { UserError } from '../user-error.js';

/** for the daemon's whole answer: its own connect deadline (10 s by default) and more */
const HANDSHAKE_MS = 60_000;

export function connectCommand(): Command {
  const codes = Object.values(TUNNEL_FAILURES).map((f) => `${f.code} ${f.text}`).join('; ');
  return new Command('connect')
    .description('open a tunnel to HOST PORT through the daemon and join it to stdin/stdout (ssh: ProxyCommand proxyctl connect %h %p)')
    .argument('<host>')
    .argument('<port>')
    .addHelpText('after', `\nCredentials, when the daemon asks for them: $${USER_VAR} and $${PASSWORD_VAR}.\nExit codes: 0 the tunnel closed; ${codes}.`)
    .action(async (host: string, port: string, _o, cmd: Command) => {
      const target = parseHostPort(`${host.includes(':') ? `[${host}]` : host}:${port}`, 0);
      if (!target || target.port === 0) throw new UserError(`connect takes a host and a port (1-65535), not "${host} ${port}"`);
      const status = await new ControlClient(cmd.optsWithGlobals<{ control?: string }>().control).report('GET', '/status', Status);
      const listener = status.listeners.find((l) => l.name === 'socks') ?? status.listeners.find((l) => l.name === 'http');
      if (!listener) throw new Failed('the daemon has no listener (listen: both off)');
      const user = process.env[USER_VAR];
      const password = process.env[PASSWORD_VAR];
      const credentials = user !== undefined && password !== undefined ? { user, password } : undefined;
      try {
        const tunnel = await openTunnel(target, { via: endpointOf(listener.address), credentials, timeoutMs: HANDSHAKE_MS });
        await join(tunnel, target, process.stdin, process.stdout);
        process.stdin.destroy(); // the tunnel is over: stop waiting for input
      } catch (err) {
        if (!(err instanceof TunnelFailure)) throw err;
        process.stderr.write(`proxyctl connect: ${err.message}\n`);
        process.exit(err.code);
      }
    });
}
