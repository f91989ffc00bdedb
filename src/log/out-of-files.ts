// Running out of descriptors (EMFILE: proxyd's open-file limit; ENFILE: the system's) fails
// whatever needs one next, far from the cause. Wherever it surfaces it is said once per 10 s per
// daemon (per logger), however often it happens meanwhile.
//
// Not every place can see it: on accept(), libuv takes EMFILE in its stride by accepting and
// closing the waiting connections, so a listener at the limit drops clients without an error.
// That is why the listeners' and control sockets' budgets (src/access/file-limit.ts) keep
// proxyd off the limit rather than report it.
import type { Logger } from './logger.js';
import { ThrottledWarning } from './throttled.js';

const PERIOD_MS = 10_000;

interface Occurrence {
  where: string;
  code: 'EMFILE' | 'ENFILE';
}

const alarms = new WeakMap<Logger, ThrottledWarning<Occurrence>>();

/** Reports `err` when it is EMFILE or ENFILE (true); anything else is left to the caller (false). */
export function reportOutOfFiles(log: Logger, where: string, err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'EMFILE' && code !== 'ENFILE') return false;
  let alarm = alarms.get(log);
  if (!alarm) alarms.set(log, (alarm = new ThrottledWarning(PERIOD_MS, (count, last) => say(log, count, last))));
  alarm.hit({ where, code });
  return true;
}

function say(log: Logger, count: number, { where, code }: Occurrence): void {
  const limit = code === 'EMFILE' ? "proxyd's open-file limit (raise it: ulimit -n, or LimitNOFILE= in the systemd unit; or lower max-connections)" : "the system's open-file table (fs.file-max)";
  const times = count === 1 ? '' : `${count} times in the last ${PERIOD_MS / 1000} s, the last `;
  log.error({ error: code, where, count }, `out of file descriptors ${times}at ${where} (${code}): ${limit} is reached`);
}

/**
 * An 'error' listener for a server once it listens (only accept() fails then): the failure is
 * logged and the server goes on accepting, where an unheard 'error' would end the process.
 */
export function onAcceptError(log: Logger, where: string): (err: Error) => void {
  return (err) => {
    if (!reportOutOfFiles(log, `accept on ${where}`, err)) log.error({ where, err: err.message }, `accept on ${where} failed: ${err.message}`);
  };
}
