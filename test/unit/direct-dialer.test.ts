// DIRECT's failures keep the hop where they went wrong: the network's at the origin, a bug in
// proxyd at proxyd, with its stack (issue 17, item 5). Real net.connect calls on loopback.
import { createServer, type AddressInfo } from 'node:net';
import { expect, test } from 'vitest';
import { Deadline } from '../../src/deadline.js';
import { ProxyError } from '../../src/errors.js';
import { DirectDialer } from '../../src/outbound/direct.js';
import type { OutboundDeps } from '../../src/outbound/types.js';
import { Resolver } from '../../src/resolver.js';

const dialer = new DirectDialer('DIRECT', { isSelf: () => false } as unknown as OutboundDeps);
const target = { host: 'a.example', port: 9 };

async function dialError(ctx: { resolved?: string[]; resolver?: Resolver }): Promise<ProxyError> {
  const deadline = new Deadline(5000, 'connect to a.example:9');
  try {
    const d = await dialer.dial(target, { resolver: new Resolver(new Map()), ...ctx, cancel: deadline });
    d.socket.destroy();
    throw new Error('the dial did not fail');
  } catch (e) {
    expect(e).toBeInstanceOf(ProxyError);
    return e as ProxyError;
  } finally {
    deadline.done();
  }
}

/** A loopback port with nothing listening (taken, then freed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

test('a bug while connecting (net.connect handed an address that is none) stays internal at hop proxyd, with the stack of what threw', async () => {
  const e = await dialError({ resolved: ['not-an-address'] });
  expect({ cls: e.cls, hop: e.hop, code: e.code }).toEqual({ cls: 'internal', hop: 'proxyd', code: 'ERR_INVALID_IP_ADDRESS' });
  expect(e.causeStack).toMatch(/^TypeError.*: Invalid IP address: not-an-address\n\s+at /);
});

test('a bug in the lookup (the resolver throws a TypeError) stays internal at hop proxyd, with its stack', async () => {
  const resolver = Object.assign(new Resolver(new Map()), { resolve: async (): Promise<string[]> => { throw new TypeError('resolver bug'); } });
  const e = await dialError({ resolver });
  expect({ cls: e.cls, hop: e.hop }).toEqual({ cls: 'internal', hop: 'proxyd' });
  expect(e.causeStack).toMatch(/^TypeError: resolver bug\n\s+at .*direct-dialer\.test\.ts/);
});

test('a network failure is still the origin\'s: refused at hop origin, the code in the reason', async () => {
  const port = await closedPort();
  const deadline = new Deadline(5000, 'connect');
  const e = await dialer.dial({ host: 'a.example', port }, { resolved: ['127.0.0.1'], resolver: new Resolver(new Map()), cancel: deadline }).then(
    () => { throw new Error('connected'); },
    (err: ProxyError) => err,
  );
  deadline.done();
  expect({ cls: e.cls, hop: e.hop, code: e.code, message: e.message }).toEqual({
    cls: 'refused', hop: 'origin', code: 'ECONNREFUSED', message: `connect to a.example:${port}: ECONNREFUSED`,
  });
});
