// `proxyctl doctor [HOST[:PORT]...]`: the daemon probes each target over every route it could take
// (POST /doctor) and proxyctl prints the verdicts. Exit 1 when a target's route today does not work.
import { Command } from 'commander';
import { auditSettings } from '../audit/index.js';
import { DoctorReport } from '../control/api.js';
import { ControlClient } from '../control/client.js';
import { UserError } from '../user-error.js';
import { auditText } from './audit-text.js';
import { doctorText } from './doctor-text.js';
import { styleFor } from './format.js';

/** how much longer than the run's deadline proxyctl waits for the report */
const ANSWER_GRACE_MS = 15_000;

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('probe each target (default: GitHub, the Go, npm and PyPI hosts, every mirror upstream and proxy server) over every route: DNS, TCP, TLS, HTTP, and what to fix; then your tools\' settings (proxy variables, git, ssh, go, npm, pip), each ok, missing or conflicting')
    .argument('[targets...]', 'HOST[:PORT] (port 443 when not given) or an http(s):// URL')
    .option('--timeout <seconds>', 'the limit of each step: a lookup, a connect, a TLS handshake, an HTTP answer', '5')
    .option('--deadline <seconds>', 'the limit of the whole run', '30')
    .option('--json', 'print the report as JSON')
    .action(async (targets: string[], o: { timeout: string; deadline: string; json?: boolean }, cmd: Command) => {
      const timeoutMs = Math.round(Number(o.timeout) * 1000);
      const deadlineMs = Math.round(Number(o.deadline) * 1000);
      if (!(timeoutMs > 0) || !(deadlineMs > 0)) throw new UserError('--timeout and --deadline take positive numbers of seconds');
      const query = new URLSearchParams([...targets.map((t) => ['target', t]), ['timeout', String(timeoutMs)], ['deadline', String(deadlineMs)]]);
      const client = new ControlClient(cmd.optsWithGlobals<{ control?: string }>().control);
      // the settings are this user's: read here, while the daemon probes the network
      const audit = auditSettings(client).catch((err: Error) => void process.stderr.write(`proxyctl: settings audit: ${err.message}\n`));
      const report = await client.report('POST', `/doctor?${query}`, DoctorReport, [200], deadlineMs + ANSWER_GRACE_MS);
      const settings = await audit;
      const style = styleFor(process.stdout);
      process.stdout.write(o.json
        ? `${JSON.stringify({ ...report, ...(settings && { audit: settings }) }, null, 2)}\n`
        : `${doctorText(report, style)}\n${settings ? `\n${auditText(settings, style)}\n` : ''}`);
      if (!report.ok) process.exitCode = 1;
    });
}
