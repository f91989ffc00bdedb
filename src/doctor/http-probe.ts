// One HTTP/1.1 request over a connection doctor made (TLS already up): the answer's status and the
// time from the request to its first byte. Nothing else is read.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { DoctorHttp } from '../control/api.js';
import type { Deadline } from '../deadline.js';
import { seconds } from './words.js';

/** `authority`: the Host header (host, and the port when it is not the scheme's) */
export function probeHttp(socket: Socket, authority: string, path: string, deadline: Deadline, timeoutMs: number): Promise<DoctorHttp> {
  return new Promise((resolve) => {
    let t0 = 0;
    let stop = (): void => undefined;
    const finish = (answer: DoctorHttp) => {
      stop();
      deadline.done();
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('end', onEnd);
      resolve(answer);
    };
    const onData = (chunk: Buffer) => {
      const ttfbMs = Math.round(performance.now() - t0);
      const status = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(chunk.toString('latin1', 0, 16))?.[1];
      finish(status ? { status: Number(status), ttfbMs } : { ttfbMs, error: 'the answer is not HTTP' });
    };
    const onError = (err: NodeJS.ErrnoException) => finish({ error: `${err.code ?? err.message} before an answer` });
    const onEnd = () => finish({ error: 'closed before an answer' });
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('end', onEnd);
    t0 = performance.now();
    stop = deadline.onAbort(() => finish({ error: `no answer in ${seconds(timeoutMs)}` }));
    if (deadline.aborted) return;
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: proxyd-doctor\r\nAccept: */*\r\nConnection: close\r\n\r\n`);
    socket.resume();
  });
}
