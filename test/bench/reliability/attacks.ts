// The eight attacks. Each runs against a fresh daemon, calls `underAttack()` at the moment
// its pressure is highest (the legitimate client is checked then), is bounded in count
// and in time, and says in one phrase what the attacker got.
import { sleep } from '../proc.ts';
import { Attacker, attackerAddress, exchange, httpAnswers, tally, until, type HttpAnswer } from './attacker.ts';
import type { HttpOrigin, SilentOrigin } from './origins.ts';
import type { Gauges, Target, TargetOptions } from './target.ts';

export interface AttackContext {
  target: Target;
  origin: HttpOrigin;
  silent: SilentOrigin;
  attacker: Attacker;
  /** the daemon's descriptors and memory before the attack */
  baseline: Gauges;
  /** checks the legitimate client now; the first call counts, later ones wait for it */
  underAttack(): Promise<void>;
}

export interface Outcome {
  /** one short phrase for the table */
  got: string;
  figures: Record<string, unknown>;
}

export interface Attack {
  id: string;
  label: string;
  options: TargetOptions;
  run(ctx: AttackContext): Promise<Outcome>;
}

const MiB = 1 << 20;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const SOCKS_GREETING = Buffer.from([5, 1, 0]);

function socksConnect(port: number): Buffer {
  return Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff]);
}

/** Leading answers that are 200 with the body the origin gives for request i. */
function inOrder(answers: HttpAnswer[]): number {
  const wrong = answers.findIndex((a, i) => a.status !== 200 || a.body !== String(i));
  return wrong < 0 ? answers.length : wrong;
}

const pipelinedGets: Attack = {
  id: 'pipeline',
  label: '3,000 pipelined GETs, one connection',
  options: {},
  async run({ target, origin, attacker, underAttack }) {
    const s = attacker.connect(target.httpPort, attackerAddress());
    const requests = Array.from({ length: 3000 }, (_, i) => `GET http://127.0.0.1:${origin.port}/n/${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
    const [reply] = await Promise.all([exchange(s, requests, 15_000), underAttack()]);
    const answers = httpAnswers(reply.data);
    const ordered = inOrder(answers);
    const rest = answers.slice(ordered).map((a) => a.status);
    return {
      got: `${ordered} × 200 in order, then ${tally(rest)}${reply.closed ? ' and a close' : ''}; origin saw ${origin.attacker.maxOpen} connections at most`,
      figures: { answers: tally(answers.map((a) => a.status)), inOrder: ordered, closedByDaemon: reply.closed, ms: reply.ms,
        originRequests: origin.attacker.requests, originConnections: origin.attacker.accepted, originMaxOpen: origin.attacker.maxOpen },
    };
  },
};

const unreadMegabytes: Attack = {
  id: 'unread-1mb',
  label: '2,000 pipelined 1 MB GETs, never read',
  options: {},
  async run({ target, origin, attacker, underAttack }) {
    const s = attacker.connect(target.httpPort, attackerAddress());
    s.pause(); // never reads: the answers pile up in the kernel, then in whatever the daemon buffers
    await until(() => !s.connecting, 5000);
    s.write(Array.from({ length: 2000 }, (_, i) => `GET http://127.0.0.1:${origin.port}/big?n=${MiB}&i=${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
    const t0 = Date.now();
    await sleep(1000);
    await underAttack();
    await sleep(Math.max(0, 4000 - (Date.now() - t0)));
    const held = { originRequests: origin.attacker.requests, upstreamOpen: origin.attacker.open, originMaxOpen: origin.attacker.maxOpen };
    s.destroy();
    const left = Date.now();
    const upstreamClosed = await until(() => origin.attacker.open === 0, 5000);
    const closeMs = Date.now() - left;
    return {
      got: `${held.originRequests} of 2,000 reached the origin, over ${held.originMaxOpen} connections; `
        + (upstreamClosed ? `closed ${seconds(closeMs)} after the client left` : `${origin.attacker.open} still open 5 s after the client left`),
      figures: { ...held, heldMs: 4000, upstreamClosedMs: upstreamClosed ? closeMs : null },
    };
  },
};

const nestedConnects: Attack = {
  id: 'nested-connect',
  label: '200 nested CONNECTs to itself, one write',
  options: {},
  async run({ target, attacker, underAttack }) {
    const s = attacker.connect(target.httpPort, attackerAddress());
    const payload = `CONNECT 127.0.0.1:${target.httpPort} HTTP/1.1\r\n\r\n`.repeat(200);
    const [reply] = await Promise.all([exchange(s, payload, 10_000), underAttack()]);
    const statuses = [...reply.data.toString('latin1').matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => m[1]);
    return {
      got: `${tally(statuses)}, ${reply.closed ? `closed after ${seconds(reply.ms)}` : 'connection left open'}`,
      figures: { payloadBytes: payload.length, statusLines: tally(statuses), bytesBack: reply.data.length, closedByDaemon: reply.closed, ms: reply.ms },
    };
  },
};

const trickleAfter408: Attack = {
  id: 'slow-head-trickle',
  label: '500 half heads, then half-open trickle (handshake-timeout 2s)',
  options: { limits: 'handshake-timeout: 2s' },
  async run({ target, origin, attacker, baseline, underAttack }) {
    const CLIENTS = 500;
    const trickles: NodeJS.Timeout[] = [];
    const answers: string[] = [];
    let refused = 0; // closed without an answer: over the listener's max-connections
    let lastAnswer = 0;
    for (let i = 0; i < CLIENTS; i++) {
      // 100 per address: under max-connections-per-client
      const s = attacker.connect(target.httpPort, attackerAddress(i, 5), true);
      s.once('connect', () => s.write(`GET http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nHost: x\r\n`));
      s.once('close', () => { if (s.bytesRead === 0) refused++; });
      s.once('data', (b: Buffer) => {
        answers.push(b.toString('latin1', 9, 12));
        lastAnswer = Date.now();
        trickles.push(setInterval(() => { if (s.writable) s.write('x'); }, 2000)); // ignores our FIN, keeps its side open
      });
    }
    try {
      await until(() => answers.length + refused === CLIENTS, 10_000);
      await underAttack(); // every client has its answer (or was refused) and trickles on its half-open connection
      // The client only notices the daemon's close at its next write (2 s later), so the
      // release is read on the daemon's side: its descriptors back to the count before.
      const released = await until(() => (target.gauges()?.fds ?? 0) <= baseline.fds, 20_000);
      const releaseMs = Date.now() - lastAnswer;
      return {
        got: `${tally(answers)}${refused ? `, ${refused} × closed at once (listener full)` : ''}; `
          + (released ? `all released ${seconds(releaseMs)} after the last 408` : `${(target.gauges()?.fds ?? 0) - baseline.fds} descriptors still held 20 s after it`),
        figures: { clients: CLIENTS, answers: tally(answers), refused, released, releasedMsAfterLastAnswer: releaseMs },
      };
    } finally {
      for (const t of trickles) clearInterval(t);
    }
  },
};

const idleFlood: Attack = {
  id: 'idle-flood',
  label: '2,000 idle connections, one address',
  options: {},
  async run({ target, attacker, underAttack }) {
    const PER_LISTENER = 1000;
    const open = (port: number) => Array.from({ length: PER_LISTENER }, () => {
      const s = attacker.connect(port, attackerAddress());
      const c = { connected: false, closed: false };
      s.once('connect', () => { c.connected = true; });
      s.once('close', () => { c.closed = true; });
      return c;
    });
    const socks = open(target.socksPort);
    const http = open(target.httpPort);
    const all = [...socks, ...http];
    const settled = await until(() => all.every((c) => c.connected || c.closed), 8000);
    await sleep(1000); // refused connections are closed at once; kept ones stay until the 10 s handshake timeout
    const kept = (list: typeof all) => list.filter((c) => c.connected && !c.closed).length;
    const figures = { socksKept: kept(socks), httpKept: kept(http), perListener: PER_LISTENER, allConnectsSettled: settled };
    await underAttack();
    return { got: `${figures.socksKept} (socks) and ${figures.httpKept} (http) of 1,000 each kept, the rest closed at once`, figures };
  },
};

const passwordGuessing: Attack = {
  id: 'password-guessing',
  label: '300 wrong SOCKS5 passwords, 16 at a time (auth: 1 user)',
  options: { user: 'dev:pw' },
  async run({ target, attacker, underAttack }) {
    const GUESSES = 300;
    const PARALLEL = 16;
    const LIMIT_MS = 60_000;
    const t0 = Date.now();
    const answeredAt: number[] = [];
    const unansweredMs: number[] = [];
    const outcomes: string[] = [];
    let next = 0;
    /** one RFC 1929 login; its answer (0: accepted) or undefined, and how long it took */
    const login = async (password: Buffer, limitMs: number): Promise<{ status?: number; ms: number; timedOut: boolean }> => {
      const bytes = Buffer.concat([Buffer.from([5, 1, 2, 1, 3]), Buffer.from('dev'), Buffer.from([password.length]), password]);
      const s = attacker.connect(target.socksPort, attackerAddress());
      const r = await exchange(s, bytes, limitMs, (d) => d.length >= 4);
      s.destroy();
      return { status: r.data.length >= 4 && r.data[2] === 1 ? r.data[3] : undefined, ms: r.ms, timedOut: r.timedOut };
    };
    const attempt = async (i: number) => {
      const password = Buffer.from(`wrong-${i}`);
      // greeting offering username/password (method 2), then the RFC 1929 request
      const login = Buffer.concat([Buffer.from([5, 1, 2, 1, 3]), Buffer.from('dev'), Buffer.from([password.length]), password]);
      const s = attacker.connect(target.socksPort, attackerAddress());
      const r = await exchange(s, login, Math.max(1, LIMIT_MS - (Date.now() - t0)), (d) => d.length >= 4);
      s.destroy();
      if (r.data.length >= 4 && r.data[2] === 1) {
        outcomes.push(r.data[3] === 0 ? 'accepted' : 'refused');
        answeredAt.push(Date.now() - t0);
      } else if (r.timedOut) outcomes.push('cut at the 60 s limit');
      else {
        outcomes.push('closed unanswered');
        unansweredMs.push(r.ms);
      }
    };
    const worker = async () => {
      while (next < GUESSES && Date.now() - t0 < LIMIT_MS) await attempt(next++);
    };
    await Promise.all([...Array.from({ length: PARALLEL }, worker), sleep(3000).then(underAttack)]);
    // the owner of the account, from the same address, a second after the guessing stopped
    await sleep(1000);
    const owner = await login(Buffer.from('pw'), 15_000);
    const n = answeredAt.length;
    // until the last answer when all were answered, else until the run was stopped
    const stop = n === GUESSES ? answeredAt[n - 1] : Date.now() - t0;
    const afterFive = n > 5 ? (n - 5) / ((stop - answeredAt[4]) / 1000) : 0;
    unansweredMs.sort((a, b) => a - b);
    return {
      got: `${n} of ${GUESSES} answered in ${seconds(stop)} (after the first 5, one checked per second, the rest refused unchecked); `
        + (owner.status === 0 ? `the right password 1 s later: accepted after ${seconds(owner.ms)}` : `the right password 1 s later: ${owner.timedOut ? 'no answer' : `refused (${owner.status})`}`)
        + (n < GUESSES ? `; ${tally(outcomes.filter((o) => o !== 'refused'))}` : ''),
      figures: { guesses: GUESSES, parallel: PARALLEL, outcomes: tally(outcomes), answered: n, firstFiveMs: answeredAt[4], lastAnswerMs: answeredAt.at(-1),
        answersPerSecondAfterFive: afterFive, ms: stop, owner, unansweredClosedAfterMs: unansweredMs.length ? [unansweredMs[0], unansweredMs.at(-1)] : [] },
    };
  },
};

const silentTls: Attack = {
  id: 'https-silent-origin',
  label: '42 https:// GETs to an origin silent in TLS (connect-timeout 2s)',
  options: { limits: 'connect-timeout: 2s' },
  async run({ target, silent, attacker, underAttack }) {
    const at = `127.0.0.1:${silent.port}`;
    const requests = Array.from({ length: 42 }, (_, i) => {
      const s = attacker.connect(target.httpPort, attackerAddress());
      return exchange(s, `GET https://${at}/r${i} HTTP/1.1\r\nHost: ${at}\r\n\r\n`, 10_000, (d) => httpAnswers(d).length > 0);
    });
    const [replies] = await Promise.all([Promise.all(requests), underAttack()]);
    const statuses = replies.map((r) => httpAnswers(r.data)[0]?.status ?? (r.timedOut ? 'no answer in 10 s' : 'closed'));
    const slowest = Math.max(...replies.map((r) => r.ms));
    attacker.closeAll();
    const originClosed = await until(() => silent.connections.open === 0, 5000);
    const logged = () => target.logLines.filter((l) => l.includes(at)).length;
    await until(() => logged() >= 42, 3000);
    return {
      got: `${tally(statuses)} within ${seconds(slowest)}, ${logged()} log lines`
        + (originClosed ? '' : `; ${silent.connections.open} origin connections still open`),
      figures: { statuses: tally(statuses), slowestMs: slowest, logLines: logged(), originAccepted: silent.connections.accepted, originOpenAfter: silent.connections.open },
    };
  },
};

const socksLoop: Attack = {
  id: 'socks-loop',
  label: '2,000 SOCKS5 CONNECTs to its own port',
  options: {},
  async run({ target, attacker, underAttack }) {
    const CLIENTS = 2000;
    const request = Buffer.concat([SOCKS_GREETING, socksConnect(target.socksPort)]);
    const replies = Array.from({ length: CLIENTS }, async (_, i) => {
      // 200 per address: under max-connections-per-client, so the loop guard is what answers
      const s = attacker.connect(target.socksPort, attackerAddress(i, 10));
      const r = await exchange(s, request, 15_000, (d) => d.length >= 12);
      s.destroy();
      if (r.data.length >= 4) return `reply 0x${r.data[3].toString(16).padStart(2, '0')}`;
      return r.timedOut ? 'no reply in 15 s' : 'closed without reply';
    });
    const [answers] = await Promise.all([Promise.all(replies), underAttack()]);
    return { got: tally(answers), figures: { clients: CLIENTS, replies: tally(answers) } };
  },
};

export const attacks: Attack[] = [pipelinedGets, unreadMegabytes, nestedConnects, trickleAfter408, idleFlood, passwordGuessing, silentTls, socksLoop];
