// The terminal form of a log event: one line per event, a connection's route and duration first.
//
//   12:00:01.234 INFO  github-out/overseas  120ms  CONNECT github.com:443  ↑1.2 KiB ↓3.4 MiB  rule DOMAIN-SUFFIX,github.com,github-out  #17 socks5 127.0.0.1:50312
//   12:00:01.240 WARN  DIRECT  3ms  FORWARD a.example:80  ↑0 B ↓0 B  rule MATCH,DIRECT  #18 http 127.0.0.1:50313  ✗ refused at origin: connect to a.example:80: ECONNREFUSED
//   12:00:02.001 INFO  listening (SOCKS5; both protocols accepted)  listener=socks address=127.0.0.1:1080
//
// Every value is printed with control characters escaped (a reason that holds a newline, or a
// client's request line holding terminal escapes, stays on its line and cannot drive the
// terminal). The one exception is `stack`, set only for an `internal` error (a bug): it follows
// the event's line, each of its lines indented by four spaces (escaped the same way otherwise).
// Pure: the same event and options give the same text, whatever the terminal.

/** a log event as pino writes it: level number, time in ms since the epoch, msg, and its fields */
export type LogEvent = Record<string, unknown>;

export interface FormatOptions {
  /** ANSI colours (only when stdout is a terminal and NO_COLOR is not set) */
  color: boolean;
}

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '90'],
  20: ['DEBUG', '34'],
  30: ['INFO', '32'],
  40: ['WARN', '33'],
  50: ['ERROR', '31'],
  60: ['FATAL', '41;97'],
};

/** the fields of a connection or request line, in the order #finish writes them; the rest follow as key=value */
const CONNECTION_FIELDS = new Set(['id', 'inbound', 'mode', 'client', 'user', 'target', 'rule', 'route', 'ms', 'up', 'down', 'error', 'hop', 'reason', 'stack']);
const ENVELOPE = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v']);
const VERBS: Record<string, string> = { tunnel: 'CONNECT', forward: 'FORWARD', respond: 'RESPOND' };
const SEP = '  ';

/** One log event as terminal text: one line, then the lines of a bug's `stack` when it has one. No trailing newline. */
export function formatEvent(event: LogEvent, options: FormatOptions): string {
  const paint = painter(options.color);
  const [label, levelColor] = LEVELS[event.level as number] ?? [String(event.level ?? '?').toUpperCase(), '0'];
  const head = `${paint('2', formatTime(event.time))} ${paint(levelColor, label.padEnd(5))} `;
  const msg = typeof event.msg === 'string' ? event.msg : '';
  const connection = (msg === 'connection' || msg === 'request') && 'target' in event;
  const body = connection ? connectionLine(event, paint) : eventLine(event, msg, paint);
  const stack = typeof event.stack === 'string' && event.stack ? event.stack.split(/\r?\n/).map((l) => `\n    ${escape(l)}`).join('') : '';
  return head + body + stack;
}

/** `github-out/overseas  120ms  CONNECT github.com:443  ↑1.2 KiB ↓3.4 MiB  rule …  #17 socks5 127.0.0.1:50312[  ✗ class at hop: reason]` */
function connectionLine(e: LogEvent, paint: Paint): string {
  const mode = typeof e.mode === 'string' ? e.mode : '';
  const parts = [
    paint('1;36', text(e.route ?? '-')),
    formatDuration(e.ms),
    `${VERBS[mode] ?? (text(mode).toUpperCase() || '?')} ${text(e.target)}`,
    `↑${formatBytes(e.up)} ↓${formatBytes(e.down)}`,
  ];
  if (e.rule !== undefined) parts.push(`${paint('2', 'rule')} ${text(e.rule)}`);
  const who = e.user !== undefined ? `${text(e.user)}@${text(e.client ?? '?')}` : text(e.client ?? '?');
  parts.push(`#${text(e.id ?? '?')} ${text(e.inbound ?? '?')} ${who}`);
  if (e.error !== undefined) {
    const hop = e.hop !== undefined ? ` at ${text(e.hop)}` : '';
    const reason = e.reason !== undefined ? `: ${text(e.reason)}` : '';
    parts.push(paint('31', `✗ ${text(e.error)}${hop}${reason}`));
  }
  const rest = fields(e, CONNECTION_FIELDS, paint);
  if (rest) parts.push(rest);
  return parts.join(SEP);
}

/** `message  key=value key=value` */
function eventLine(e: LogEvent, msg: string, paint: Paint): string {
  const rest = fields(e, new Set(['stack']), paint);
  return rest ? `${escape(msg)}${SEP}${rest}` : escape(msg);
}

function fields(e: LogEvent, skip: Set<string>, paint: Paint): string {
  return Object.entries(e)
    .filter(([k, v]) => !ENVELOPE.has(k) && !skip.has(k) && v !== undefined)
    .map(([k, v]) => `${paint('2', `${escape(k)}=`)}${value(v)}`)
    .join(' ');
}

/** a value of key=value: bare when it reads unambiguously, else quoted; objects compact */
function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"'=\\]+$/u.test(v) && escape(v) === v ? v : quote(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (isHostPort(v)) return formatHostPort(v.address, v.port);
  if (Array.isArray(v)) return `[${v.map(value).join(',')}]`;
  if (typeof v === 'object') return `{${Object.entries(v as object).map(([k, x]) => `${escape(k)}:${value(x)}`).join(',')}}`;
  return escape(String(v));
}

function isHostPort(v: unknown): v is { address: string; port: number } {
  return typeof v === 'object' && v !== null && typeof (v as { address?: unknown }).address === 'string' && typeof (v as { port?: unknown }).port === 'number';
}

function formatHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${escape(host)}]` : escape(host)}:${port}`;
}

function quote(s: string): string {
  return `"${escape(s.replace(/\\/g, '\\\\').replace(/"/g, '\\"'))}"`;
}

/** any value as text on one line */
function text(v: unknown): string {
  return typeof v === 'string' ? escape(v) : value(v);
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Control characters (C0, DEL, C1), line and paragraph separators and bidi overrides as escapes:
 * nothing a client sent can break a line or drive the terminal.
 */
function escape(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    if (ESCAPES[c]) return ESCAPES[c]!;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** local time HH:MM:SS.mmm */
function formatTime(time: unknown): string {
  if (typeof time !== 'number') return '--:--:--.---';
  const d = new Date(time);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** 120ms, 4.5s, 12m05s, 3h07m */
export function formatDuration(ms: unknown): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '?ms';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

/** 0 B, 512 B, 1.2 KiB, 3.4 MiB, 1.0 GiB */
export function formatBytes(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '? B';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

type Paint = (code: string, s: string) => string;

function painter(color: boolean): Paint {
  return color ? (code, s) => `\x1b[${code}m${s}\x1b[0m` : (_code, s) => s;
}

/**
 * A pino destination that writes each event as terminal text. pino has redacted the event
 * before it gets here, so secrets stay out of the terminal as they stay out of JSON.
 */
export function prettyDestination(out: { write(s: string): unknown }, options: FormatOptions): { write(chunk: string): void } {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) {
        if (!line) continue;
        let event: LogEvent;
        try {
          event = JSON.parse(line) as LogEvent;
        } catch {
          out.write(`${escape(line)}\n`);
          continue;
        }
        out.write(`${formatEvent(event, options)}\n`);
      }
    },
  };
}
