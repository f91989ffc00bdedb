// `proxyctl ca …`: the local CA, from the daemon's report (GET /ca), and the system trust store.
import { X509Certificate } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { rootCertificates } from 'node:tls';
import { Command, Option } from 'commander';
import { DISTROS, detectDistro, trust, untrust, type Distro } from '../ca/system-trust.js';
import { CaReport, Status } from '../control/api.js';
import { ControlClient } from '../control/client.js';
import { isSystemPath } from '../control/paths.js';
import { writeAtomic } from '../service/files.js';
import { hostFor, hostPlatform, layoutFor, PLATFORMS, type Platform } from '../service/layout.js';
import { Run } from '../service/run.js';
import { UserError } from '../user-error.js';
import { caShowText, trustInfoText } from './ca-text.js';
import { styleFor } from './format.js';

/** the system's own roots, for a combined bundle: the distribution's file, else the roots Node carries */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/ssl/cert.pem'];

interface StoreOptions {
  system?: boolean;
  dryRun?: boolean;
  root?: string;
  platform?: Platform;
  distro?: Distro;
}

const out = process.stdout;

export function caCommand(): Command {
  const ca = new Command('ca').description('the local CA with which proxyd serves the origins of mirrors with intercept: true; it can sign only their names');
  const client = (cmd: Command) => new ControlClient(cmd.optsWithGlobals<{ control?: string }>().control);
  const report = (cmd: Command) => client(cmd).report('GET', '/ca', CaReport);

  ca.command('path').description('the file tools are told to trust: every CA in use, in one PEM file')
    .action(async (_o, cmd: Command) => void out.write(`${(await report(cmd)).bundle}\n`));

  ca.command('show').description('each CA in use: subject, the names it may sign, lifetime, SHA-256 fingerprint, file')
    .option('--json', 'print the report as JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const r = await report(cmd);
      out.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : `${caShowText(r, styleFor(out))}\n`);
    });

  ca.command('export').description('the CA certificates in use, to standard output or a file')
    .addOption(new Option('--format <format>', 'pem (every CA in use) or der (the newest)').choices(['pem', 'der']).default('pem'))
    .option('--combined', 'the system\'s roots followed by proxyd\'s CA: for settings that replace a tool\'s roots (PIP_CERT, CURL_CA_BUNDLE …)')
    .option('--out <file>', 'write it to FILE (whole, or not at all) instead of standard output')
    .action(async (o: { format: 'pem' | 'der'; combined?: boolean; out?: string }, cmd: Command) => {
      const r = await report(cmd);
      if (!r.cas.length) throw new UserError('no CA in use: no intercepted origin is configured');
      if (o.format === 'der' && o.combined) throw new UserError('--combined is a PEM bundle: not with --format der');
      if (o.format === 'der' && r.cas.length > 1) process.stderr.write(`proxyctl: DER holds one certificate: the newest of the ${r.cas.length} in use (--format pem gives them all)\n`);
      const ours = r.cas.map((c) => c.pem).join('');
      const data = o.format === 'der' ? new X509Certificate(r.cas[0]!.pem).raw : Buffer.from(o.combined ? `${systemRoots().replace(/\n*$/, '\n')}${ours}` : ours);
      if (!o.out) return void out.write(data);
      mkdirSync(dirname(o.out), { recursive: true });
      writeAtomic(o.out, data, 0o644);
      out.write(`wrote ${o.out}\n`);
    });

  ca.command('trust-info').description('how to make each tool (Go, Node.js, npm, pip, git, curl) and the system trust the CA')
    .action(async (_o, cmd: Command) => {
      const r = await report(cmd);
      const status = await client(cmd).report('GET', '/status', Status);
      const host = hostFor();
      const readable = (path: string) => {
        try {
          accessSync(path, constants.R_OK);
          return true;
        } catch {
          return false;
        }
      };
      const control = isSystemPath(status.control) ? undefined : status.control;
      out.write(`${trustInfoText(r, { platform: host.platform, env: host.env, home: host.home, readable, control }, styleFor(out))}\n`);
    });

  storeCommand(ca, 'trust', 'add every CA in use to the system trust store (Debian/Ubuntu, Fedora/RHEL, macOS, Windows); only when you run it',
    async (run, o, cmd) => trust(run, await report(cmd), distroFor(run.layout.platform, o), systemHome(run)));
  storeCommand(ca, 'untrust', 'remove exactly what trust --system added', async (run) => untrust(run, systemHome(run)));
  return ca;
}

function storeCommand(ca: Command, name: string, description: string, act: (run: Run, o: StoreOptions, cmd: Command) => Promise<void>): void {
  ca.command(name).description(description)
    .option('--system', 'the operating system\'s trust store (the only one proxyctl changes; required)')
    .option('-n, --dry-run', 'print the files and commands, and change nothing')
    .option('--root <dir>', 'write the files under DIR (like DESTDIR) and run nothing')
    .addOption(new Option('--platform <os>', 'for another OS (with --dry-run or --root)').choices(PLATFORMS))
    .addOption(new Option('--distro <family>', 'the Linux family, when it is not this one\'s').choices(DISTROS))
    .action(async (o: StoreOptions, cmd: Command) => {
      if (!o.system) throw new UserError(`ca ${name} changes the system trust store only when told so: proxyctl ca ${name} --system`);
      const host = hostFor(o.platform ?? hostPlatform());
      if (!host.local && !o.dryRun && !o.root) throw new UserError(`--platform ${host.platform}: this machine runs ${hostPlatform()}; add --dry-run or --root DIR`);
      const run = new Run(host, layoutFor(host, 'system'), { dryRun: !!o.dryRun, root: o.root, out: (t) => void out.write(t) });
      if (run.live && host.platform !== 'windows' && host.uid !== 0) throw new UserError(`ca ${name} --system changes the system trust store: run it with sudo (and --control PATH for your own daemon: proxyctl ca trust-info shows the line)`);
      await act(run, o, cmd);
    });
}

function distroFor(platform: Platform, o: StoreOptions): Distro | undefined {
  if (platform !== 'linux') return undefined;
  const distro = o.distro ?? detectDistro();
  if (!distro) throw new UserError('this Linux is neither Debian/Ubuntu nor Fedora/RHEL: add the CA by hand (proxyctl ca trust-info), or name the family with --distro');
  return distro;
}

/** root's proxyd directory, beside the system service's install manifest (never the daemon account's) */
function systemHome(run: Run): string {
  return run.layout.path.dirname(run.layout.manifest);
}

function systemRoots(): string {
  const file = SYSTEM_BUNDLES.find((f) => existsSync(f));
  return file ? readFileSync(file, 'utf8') : rootCertificates.join('\n');
}
