// One route to one target, as the daemon's own dial makes it (the same outbound objects, so the
// same addresses, `via` chains, credentials and loop guard): how the connect went, in the words a
// person uses about a port (open, refused, filtered, unreachable, reset after connect), then for
// https targets the TLS handshake and an HTTP request's status and time to first byte.
import { isIP, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { canonicalAddress, formatTarget } from '../address/index.js';
import type { DoctorRoute, ProbeState } from '../control/api.js';
import type { Deadline } from '../deadline.js';
import { classify, LOOP, type ProxyError } from '../errors.js';
import type { Dialer } from '../outbound/index.js';
import { LookupError, type LookupOutcome, type Resolver } from '../resolver.js';
import { probeHttp } from './http-probe.js';
import type { ProbeSlots } from './slots.js';
import type { PlannedTarget } from './targets.js';
import { probeTls } from './tls-probe.js';
import { millis, seconds } from './words.js';

/** How long a plain TCP port is watched after the connect, for a banner or a reset. */
const AFTER_CONNECT_MS = 1000;
/** the longest banner line kept */
const BANNER_MAX = 80;

/** A route doctor dials through: DIRECT or an upstream proxy (groups are judged by their members). */
export interface ProbedRoute {
  name: string;
  kind: string;
  dialer: Dialer;
}

export interface ProbeContext {
  resolver: Resolver;
  slots: ProbeSlots;
  timeoutMs: number;
}

export type PathSpec = Pick<PlannedTarget, 'target' | 'https' | 'path' | 'authority'>;

export async function probePath(route: ProbedRoute, spec: PathSpec, ctx: ProbeContext): Promise<DoctorRoute> {
  const base = { route: route.name, kind: route.kind };
  const done = await ctx.slots.take(() => connectAndTalk(route, spec, ctx));
  return done ?? { ...base, state: 'skipped', summary: "not probed: the run's deadline passed first", works: false };
}

async function connectAndTalk(route: ProbedRoute, spec: PathSpec, ctx: ProbeContext): Promise<DoctorRoute> {
  const { target } = spec;
  const base = { route: route.name, kind: route.kind };
  const connect = ctx.slots.step(ctx.timeoutMs, `connect to ${formatTarget(target)} through ${route.name}`);
  const t0 = performance.now();
  let raw: Socket;
  try {
    raw = (await connect.race(route.dialer.dial(target, { resolver: ctx.resolver, cancel: connect }))).socket;
  } catch (err) {
    if (ctx.slots.run.aborted) return { ...base, state: 'skipped', summary: "cut short: the run's deadline passed", works: false };
    return failedRoute(base, classify(err), route.kind !== 'direct', ctx.timeoutMs);
  } finally {
    connect.done();
  }
  const connectMs = Math.round(performance.now() - t0);
  raw.on('error', ignore); // each step below listens for what it expects; a late RST must not go unheard
  let socket = raw;
  const open: DoctorRoute = { ...base, state: 'open', summary: `open ${millis(connectMs)}`, works: true, connectMs };
  if (route.kind === 'direct' && raw.remoteAddress) open.address = canonicalAddress(raw.remoteAddress) ?? raw.remoteAddress;
  // an upstream told the name (no `hosts:` override) connected to it: its own DNS answered
  if (route.kind !== 'direct' && !isIP(target.host) && !ctx.resolver.override(target.host)) open.remoteDns = true;
  try {
    if (!spec.https) return await afterConnect(open, socket, ctx.slots.step(Math.min(AFTER_CONNECT_MS, ctx.timeoutMs), 'watch'));
    const handshake = await probeTls(socket, target.host, ctx.slots.step(ctx.timeoutMs, 'TLS handshake'), ctx.timeoutMs);
    if ('broken' in handshake) {
      const state: ProbeState = handshake.broken === 'reset' ? 'reset' : handshake.broken === 'timeout' ? 'filtered' : 'failed';
      const summary = state === 'reset' ? `reset after connect (${handshake.reason})` : `open, but ${handshake.reason}`;
      return { ...open, state, summary, works: false, error: { class: state === 'failed' ? 'tls' : state === 'reset' ? 'reset' : 'timeout', hop: 'origin', reason: handshake.reason } };
    }
    socket = handshake.socket.on('error', ignore);
    open.tls = handshake.tls;
    if (handshake.tls.state !== 'ok') return { ...open, summary: `open, but ${tlsWords(handshake.tls.state, handshake.tls.issuer, handshake.tls.names)}`, works: false };
    const http = await probeHttp(socket, spec.authority, spec.path, ctx.slots.step(ctx.timeoutMs, 'HTTP request'), ctx.timeoutMs);
    open.http = http;
    if (http.error) return { ...open, summary: `open, but HTTP: ${http.error}`, works: false };
    return open;
  } finally {
    socket.destroy();
    raw.destroy();
  }
}

const ignore = (): void => undefined;

function tlsWords(state: string, issuer: string, names: string[]): string {
  if (state === 'untrusted') return `TLS answered by ${issuer} (not trusted: a middlebox?)`;
  if (state === 'wrong-name') return `the TLS certificate is for ${names.slice(0, 3).join(', ')}`;
  return state === 'expired' ? 'the TLS certificate has expired' : 'the TLS certificate does not verify';
}

/** Watches a plain TCP connection briefly: a banner (SSH), a reset, a close, or silence (open). */
function afterConnect(open: DoctorRoute, socket: Socket, watch: Deadline): Promise<DoctorRoute> {
  return new Promise((resolve) => {
    let stop = (): void => undefined;
    const finish = (r: DoctorRoute) => {
      stop();
      watch.done();
      socket.removeListener('data', onData).removeListener('error', onError).removeListener('end', onEnd);
      resolve(r);
    };
    const onData = (chunk: Buffer) => {
      const line = chunk.toString('latin1').split(/\r?\n/)[0]!.replace(/[^\x20-\x7e]/g, '?').slice(0, BANNER_MAX);
      finish(line ? { ...open, banner: line } : open);
    };
    const onError = (err: NodeJS.ErrnoException) => finish(resetRoute(open, `reset after connect (${err.code === 'ECONNRESET' ? 'RST' : err.code ?? err.message})`));
    const onEnd = () => finish(resetRoute(open, 'reset after connect (closed without a byte)'));
    socket.on('data', onData).on('error', onError).on('end', onEnd);
    socket.resume(); // a socket handed on by an upstream's handshake comes paused
    stop = watch.onAbort(() => finish(open));
  });
}

function resetRoute(open: DoctorRoute, summary: string): DoctorRoute {
  return { ...open, state: 'reset', summary, works: false, error: { class: 'reset', hop: 'origin', reason: summary } };
}

/**
 * A failed connect in words. Through an upstream, a failure of the upstream itself (its server
 * did not answer, refused proxyd's password, spoke garbage) is `failed`: it says nothing about the
 * target. What the upstream reports about the target (refused, unreachable, no answer) is the
 * target's state on that route, as DIRECT's own errors are.
 */
function failedRoute(base: { route: string; kind: string }, e: ProxyError, upstream: boolean, timeoutMs: number): DoctorRoute {
  const error = { class: e.cls, ...(e.hop ? { hop: e.hop } : {}), reason: e.message };
  const aboutTarget = !upstream || e.hop !== 'upstream' || e.code === 'EUPSTREAMFAILURE';
  const [state, summary] = aboutTarget ? targetState(e, upstream, timeoutMs) : ['failed', `failed (${upstreamWords(e, timeoutMs)})`] as const;
  return { ...base, state, summary, works: false, error };
}

const LOOKUP_WORDS: Record<LookupOutcome, string> = {
  nxdomain: 'NXDOMAIN', 'no-address': 'no address', timeout: 'the DNS server did not answer', refused: 'the DNS server refused', servfail: 'SERVFAIL', failed: 'the lookup failed',
};

function lookupWords(e: ProxyError): string {
  return e.cause instanceof LookupError ? LOOKUP_WORDS[e.cause.outcome] : e.code ?? 'the lookup failed';
}

/** what went wrong with the upstream itself, short */
function upstreamWords(e: ProxyError, timeoutMs: number): string {
  switch (e.cls) {
    case 'refused': return 'its server refused the connection';
    case 'timeout': return `its server did not answer in ${seconds(timeoutMs)}`;
    case 'unreachable': return `its server is unreachable${e.code ? `: ${e.code}` : ''}`;
    case 'dns': return "its server's name does not resolve";
    case 'blocked': return `a local firewall or sandbox blocks its server${e.code ? ` (${e.code})` : ''}`;
    case 'auth': return "it refused proxyd's credentials";
    case 'reset': return 'it closed the connection';
    case 'rejected': return e.code === LOOP ? "its server is proxyd's own listener (a loop)" : "refused by the upstream's rules";
    case 'protocol': return 'its answer is not its protocol';
    default: return e.message;
  }
}

function targetState(e: ProxyError, upstream: boolean, timeoutMs: number): readonly [ProbeState, string] {
  switch (e.cls) {
    case 'timeout': return ['filtered', `filtered (no answer in ${seconds(timeoutMs)})`];
    case 'refused': return ['refused', 'refused (RST)'];
    case 'unreachable': return ['unreachable', `unreachable (${e.code === 'EUPSTREAMFAILURE' ? 'general failure at the upstream' : e.code ?? e.message})`];
    // a SYN answered with RST is `refused`: a reset comes once the connection was up
    case 'reset': return ['reset', `reset after connect (${e.code === 'ECONNRESET' ? 'RST' : e.code ?? e.message})`];
    case 'blocked': return ['blocked', `blocked by a local firewall or sandbox (${e.code})`];
    case 'dns': return ['dns', `does not resolve (${lookupWords(e)})`];
    case 'rejected': return ['rejected', e.code === LOOP ? "refused: proxyd's own listener (a loop)" : upstream ? "refused by the upstream's rules" : `refused: ${e.message}`];
    default: return ['failed', `failed: ${e.message}`];
  }
}
