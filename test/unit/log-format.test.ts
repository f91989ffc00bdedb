// The terminal form of log events (src/log/pretty.ts): events in, exact lines out.
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { createLogger, useColor } from '../../src/log/logger.js';
import { formatBytes, formatDuration, formatEvent, prettyDestination, type LogEvent } from '../../src/log/pretty.js';

const T = new Date(2025, 0, 2, 12, 0, 1, 234).getTime(); // local time, as the terminal shows it
const plain = { color: false };

/** a connection event as #finish writes it (undefined fields do not reach the JSON) */
function connection(fields: LogEvent): LogEvent {
  return { level: 30, time: T, id: 17, inbound: 'socks5', mode: 'tunnel', client: '127.0.0.1:50312', target: 'github.com:443', rule: 'DOMAIN-SUFFIX,github.com,github-out', route: 'github-out/overseas', ms: 120, up: 1229, down: 3565158, msg: 'connection', ...fields };
}

describe('a connection or request: one line, route and duration first', () => {
  test.each<[string, LogEvent, string]>([
    ['a tunnel through a group member', connection({}),
      '12:00:01.234 INFO  github-out/overseas  120ms  CONNECT github.com:443  ↑1.2 KiB ↓3.4 MiB  rule DOMAIN-SUFFIX,github.com,github-out  #17 socks5 127.0.0.1:50312'],
    ['a forwarded request refused by the origin: class, hop and reason appended',
      { level: 40, time: T, id: 18, inbound: 'http', mode: 'forward', client: '127.0.0.1:50313', target: 'a.example:80', rule: 'MATCH,DIRECT', route: 'DIRECT', ms: 3, up: 0, down: 0, error: 'refused', hop: 'origin', reason: 'connect to a.example:80: ECONNREFUSED', msg: 'request' },
      '12:00:01.234 WARN  DIRECT  3ms  FORWARD a.example:80  ↑0 B ↓0 B  rule MATCH,DIRECT  #18 http 127.0.0.1:50313  ✗ refused at origin: connect to a.example:80: ECONNREFUSED'],
    ['a REJECT rule', connection({ id: 2, inbound: 'http', route: 'REJECT', rule: 'DOMAIN,ads.example,REJECT', target: 'ads.example:443', ms: 0, up: 0, down: 0, error: 'rejected', hop: 'proxyd', reason: 'ads.example:443 is rejected by rule' }),
      '12:00:01.234 INFO  REJECT  0ms  CONNECT ads.example:443  ↑0 B ↓0 B  rule DOMAIN,ads.example,REJECT  #2 http 127.0.0.1:50312  ✗ rejected at proxyd: ads.example:443 is rejected by rule'],
    ['a user, a via chain, a long tunnel', connection({ id: 3, inbound: 'http', user: 'dev', client: '10.0.0.5:40000', route: 'far via corp', rule: 'DST-PORT,22,far', target: 'git.corp.example:22', ms: 754_000, up: 512, down: 1024 ** 3 }),
      '12:00:01.234 INFO  far via corp  12m34s  CONNECT git.corp.example:22  ↑512 B ↓1.0 GiB  rule DST-PORT,22,far  #3 http dev@10.0.0.5:40000'],
    ['no route (the client left first): "-" and no rule', { level: 40, time: T, id: 4, inbound: 'socks5', mode: 'tunnel', client: '127.0.0.1:1', target: 'x.example:443', ms: 10_001, up: 0, down: 0, error: 'reset', hop: 'client', reason: 'client left before the tunnel was up', msg: 'connection' },
      '12:00:01.234 WARN  -  10.0s  CONNECT x.example:443  ↑0 B ↓0 B  #4 socks5 127.0.0.1:1  ✗ reset at client: client left before the tunnel was up'],
    ['an origin-form request', { level: 30, time: T, id: 5, inbound: 'http', mode: 'respond', client: '127.0.0.1:2', target: '127.0.0.1:8080', rule: 'endpoint /go', route: 'go-mirror', ms: 7, up: 80, down: 2048, msg: 'request' },
      '12:00:01.234 INFO  go-mirror  7ms  RESPOND 127.0.0.1:8080  ↑80 B ↓2.0 KiB  rule endpoint /go  #5 http 127.0.0.1:2'],
    ['a field this formatter does not know follows as key=value', connection({ ttfbMs: 42 }),
      '12:00:01.234 INFO  github-out/overseas  120ms  CONNECT github.com:443  ↑1.2 KiB ↓3.4 MiB  rule DOMAIN-SUFFIX,github.com,github-out  #17 socks5 127.0.0.1:50312  ttfbMs=42'],
    ['a multi-line reason stays on the line, escaped', connection({ level: 40, error: 'protocol', hop: 'upstream', reason: 'upstream said:\r\nHTTP/1.1 502 Bad\r\n' }),
      '12:00:01.234 WARN  github-out/overseas  120ms  CONNECT github.com:443  ↑1.2 KiB ↓3.4 MiB  rule DOMAIN-SUFFIX,github.com,github-out  #17 socks5 127.0.0.1:50312  ✗ protocol at upstream: upstream said:\\r\\nHTTP/1.1 502 Bad\\r\\n'],
    ['terminal escapes a client sent are shown, not obeyed', connection({ target: 'evil\x1b[2J\x07.example:443', reason: 'bidi \u202e here', error: 'dns', hop: 'origin', level: 40 }),
      '12:00:01.234 WARN  github-out/overseas  120ms  CONNECT evil\\x1b[2J\\x07.example:443  ↑1.2 KiB ↓3.4 MiB  rule DOMAIN-SUFFIX,github.com,github-out  #17 socks5 127.0.0.1:50312  ✗ dns at origin: bidi \\u202e here'],
  ])('%s', (_name, event, line) => {
    expect(formatEvent(event, plain)).toBe(line);
  });

  test('an internal error: its line, then the stack on further lines, indented', () => {
    const stack = 'Error: boom\n    at f (/app/dist/x.js:1:1)\n    at g (/app/dist/y.js:2:2)';
    expect(formatEvent(connection({ level: 50, error: 'internal', hop: 'proxyd', reason: 'boom', stack }), plain)).toBe([
      '12:00:01.234 ERROR github-out/overseas  120ms  CONNECT github.com:443  ↑1.2 KiB ↓3.4 MiB  rule DOMAIN-SUFFIX,github.com,github-out  #17 socks5 127.0.0.1:50312  ✗ internal at proxyd: boom',
      '    Error: boom',
      '        at f (/app/dist/x.js:1:1)',
      '        at g (/app/dist/y.js:2:2)',
    ].join('\n'));
  });

  test('in colour: time dim, level by level, route bold cyan, the failure red', () => {
    expect(formatEvent(connection({}), { color: true })).toBe(
      '\x1b[2m12:00:01.234\x1b[0m \x1b[32mINFO \x1b[0m \x1b[1;36mgithub-out/overseas\x1b[0m  120ms  CONNECT github.com:443  ↑1.2 KiB ↓3.4 MiB  ' +
      '\x1b[2mrule\x1b[0m DOMAIN-SUFFIX,github.com,github-out  #17 socks5 127.0.0.1:50312',
    );
    expect(formatEvent(connection({ level: 40, error: 'timeout', hop: 'origin', reason: 'connect timed out' }), { color: true })).toBe(
      '\x1b[2m12:00:01.234\x1b[0m \x1b[33mWARN \x1b[0m \x1b[1;36mgithub-out/overseas\x1b[0m  120ms  CONNECT github.com:443  ↑1.2 KiB ↓3.4 MiB  ' +
      '\x1b[2mrule\x1b[0m DOMAIN-SUFFIX,github.com,github-out  #17 socks5 127.0.0.1:50312  \x1b[31m✗ timeout at origin: connect timed out\x1b[0m',
    );
  });
});

describe('other events: time, level, message, then key=value', () => {
  test.each<[string, LogEvent, string]>([
    ['listening: an address object as host:port', { level: 30, time: T, listener: 'socks', address: { address: '127.0.0.1', family: 'IPv4', port: 1080 }, msg: 'listening (SOCKS5; both protocols accepted)' },
      '12:00:01.234 INFO  listening (SOCKS5; both protocols accepted)  listener=socks address=127.0.0.1:1080'],
    ['an IPv6 address in brackets', { level: 30, time: T, listener: 'http', address: { address: '::1', family: 'IPv6', port: 8080 }, msg: 'listening (HTTP; both protocols accepted)' },
      '12:00:01.234 INFO  listening (HTTP; both protocols accepted)  listener=http address=[::1]:8080'],
    ['lists and numbers', { level: 30, time: T, file: '/etc/proxyd/proxyd.yaml', rules: 3, retired: [], needsRestart: ['listen.http', 'log.level'], msg: 'config reloaded' },
      '12:00:01.234 INFO  config reloaded  file=/etc/proxyd/proxyd.yaml rules=3 retired=[] needsRestart=[listen.http,log.level]'],
    ['values with spaces, quotes or newlines are quoted and escaped', { level: 30, time: T, inbound: 'http', request: 'GET http://a b/"x"\\', error: 'protocol', reason: 'line one\nline two', msg: 'request refused' },
      '12:00:01.234 INFO  request refused  inbound=http request="GET http://a b/\\"x\\"\\\\" error=protocol reason="line one\\nline two"'],
    ['a flood summary', { level: 40, time: T, listener: 'http', dropped: 305, full: 0, top: ['10.0.0.1 300', '10.0.0.2 5'], msg: '305 connections refused in the last 10 s' },
      '12:00:01.234 WARN  305 connections refused in the last 10 s  listener=http dropped=305 full=0 top=["10.0.0.1 300","10.0.0.2 5"]'],
    ['nested objects, empty strings, null, booleans', { level: 20, time: T, a: { b: 1, c: 'x y' }, e: '', n: null, ok: true, msg: 'detail' },
      '12:00:01.234 DEBUG detail  a={b:1,c:"x y"} e="" n=null ok=true'],
    ['no fields', { level: 60, time: T, msg: 'fatal thing' }, '12:00:01.234 FATAL fatal thing'],
    ['trace', { level: 10, time: T, msg: 'x' }, '12:00:01.234 TRACE x'],
    ['a message holding a newline', { level: 50, time: T, msg: 'a\nb' }, '12:00:01.234 ERROR a\\nb'],
    ['a bug outside a connection: the stack on further lines', { level: 50, time: T, inbound: 'http', error: 'internal', reason: 'x', stack: 'Error: x\n    at h (/a.js:1:1)', msg: 'request failed inside proxyd' },
      '12:00:01.234 ERROR request failed inside proxyd  inbound=http error=internal reason=x\n    Error: x\n        at h (/a.js:1:1)'],
  ])('%s', (_name, event, line) => {
    expect(formatEvent(event, plain)).toBe(line);
  });

  test('in colour: the keys dim', () => {
    expect(formatEvent({ level: 30, time: T, signal: 'SIGTERM', msg: 'stopping' }, { color: true })).toBe(
      '\x1b[2m12:00:01.234\x1b[0m \x1b[32mINFO \x1b[0m stopping  \x1b[2msignal=\x1b[0mSIGTERM',
    );
  });
});

describe('one line per event, whatever the fields hold', () => {
  const anyText = fc.string({ unit: 'binary', maxLength: 40 });
  const anyValue = fc.oneof(anyText, fc.integer(), fc.constant(null), fc.array(anyText, { maxLength: 3 }), fc.dictionary(anyText, anyText, { maxKeys: 3 }));
  const event = fc.record({
    level: fc.constantFrom(10, 20, 30, 40, 50, 60),
    time: fc.integer({ min: 0, max: 4_000_000_000_000 }),
    msg: fc.oneof(fc.constantFrom('connection', 'request'), anyText),
    id: fc.nat(),
    inbound: anyText,
    mode: fc.oneof(fc.constantFrom('tunnel', 'forward', 'respond'), anyText),
    client: anyText,
    user: anyText,
    target: anyText,
    rule: anyText,
    route: anyText,
    ms: fc.double(),
    up: fc.nat(),
    down: fc.nat(),
    error: anyText,
    hop: anyText,
    reason: anyText,
    extra: fc.dictionary(anyText.filter((k) => k !== 'stack'), anyValue, { maxKeys: 4 }),
  }, { requiredKeys: ['level', 'time', 'msg'] });
  // C0 and C1 controls, DEL, line and paragraph separators, bidi overrides: none may reach the terminal raw
  const RAW = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

  test('without a stack: one line, no raw control character', () => {
    fc.assert(fc.property(event, ({ extra, ...e }) => {
      const out = formatEvent({ ...extra, ...e }, plain);
      expect(out).not.toMatch(RAW);
    }), { numRuns: 500 });
  });

  test('with a stack: the event line, then one indented line per stack line', () => {
    fc.assert(fc.property(event, fc.array(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 5 }), ({ extra, ...e }, stackLines) => {
      const stack = stackLines.join('\n');
      const out = formatEvent({ ...extra, ...e, stack }, plain).split('\n');
      expect(out[0]).toBe(formatEvent({ ...extra, ...e }, plain));
      expect(out.slice(1)).toHaveLength(stack.split(/\r?\n/).length);
      for (const line of out.slice(1)) expect(line).toMatch(/^ {4}/);
      for (const line of out) expect(line).not.toMatch(RAW);
    }), { numRuns: 300 });
  });
});

describe('units', () => {
  test('durations', () => {
    expect([0, 999, 1000, 4567, 59_999, 60_000, 754_000, 3_599_999, 3_600_000, 11_220_000].map(formatDuration)).toEqual(
      ['0ms', '999ms', '1.0s', '4.5s', '59.9s', '1m00s', '12m34s', '59m59s', '1h00m', '3h07m'],
    );
  });
  test('bytes', () => {
    expect([0, 1023, 1024, 1229, 3565158, 1024 ** 3, 5 * 1024 ** 4].map(formatBytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '1.2 KiB', '3.4 MiB', '1.0 GiB', '5.0 TiB']);
  });
});

describe('the logger on a terminal', () => {
  function capture(): { sink: Writable; text: () => string } {
    let text = '';
    const sink = new Writable({ write(chunk, _enc, cb) { text += String(chunk); cb(); } });
    return { sink, text: () => text };
  }

  test('secrets stay redacted in the terminal form', () => {
    const { sink, text } = capture();
    const log = createLogger('info', sink, plain);
    log.info({ password: 'hunter2', users: [{ username: 'dev', password: 'hunter2' }], headers: { 'proxy-authorization': 'Basic aHVudGVyMg==' } }, 'login');
    expect(text()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  login  password=\[redacted\] users=\[redacted\] headers=\{proxy-authorization:\[redacted\]\}\n$/);
    expect(text()).not.toContain('hunter2');
    expect(text()).not.toContain('aHVudGVyMg');
  });

  test('a connection logged as #finish logs it (undefined fields included) is the one line formatEvent gives', () => {
    const { sink, text } = capture();
    const log = createLogger('info', sink, plain);
    const fields = { id: 17, inbound: 'socks5', mode: 'tunnel', client: '127.0.0.1:50312', user: undefined, target: 'github.com:443', rule: 'DOMAIN-SUFFIX,github.com,github-out', route: 'github-out/overseas', ms: 120, up: 1229, down: 3565158, error: undefined, hop: undefined, reason: undefined, stack: undefined };
    log.info(fields, 'connection');
    const lines = text().split('\n');
    expect(lines).toHaveLength(2); // one line and its newline
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  github-out\/overseas  120ms  CONNECT github\.com:443  ↑1\.2 KiB ↓3\.4 MiB  rule DOMAIN-SUFFIX,github\.com,github-out  #17 socks5 127\.0\.0\.1:50312$/);
  });

  test('a destination that gets several JSON lines in one write prints each as its line', () => {
    const out: string[] = [];
    const dest = prettyDestination({ write: (s: string) => out.push(s) }, plain);
    dest.write(`${JSON.stringify({ level: 30, time: T, msg: 'a' })}\n${JSON.stringify({ level: 40, time: T, msg: 'b' })}\n`);
    expect(out).toEqual(['12:00:01.234 INFO  a\n', '12:00:01.234 WARN  b\n']);
  });

  test('colour only on a terminal, and not with NO_COLOR', () => {
    expect(useColor({}, true)).toBe(true);
    expect(useColor({ NO_COLOR: '1' }, true)).toBe(false);
    expect(useColor({ NO_COLOR: '' }, true)).toBe(true); // no-color.org: set to a non-empty value
    expect(useColor({}, false)).toBe(false);
  });
});
