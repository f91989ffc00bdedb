// proxyctl's side of the control socket: one request, to the first place a daemon answers.
import { request } from 'node:http';
import type { z } from 'zod';
import { UserError } from '../user-error.js';
import { ErrorReply } from './api.js';
import { CONTROL_GROUP, controlCandidates, isReport, isSystemPath, readOnlySocket } from './paths.js';

/** No daemon answers at any of the places (exit 3). */
export class Unreachable extends Error {}
/** A socket is there but refuses this user (exit 4): join the group, or use your own daemon. */
export class Refused extends Error {}
/** The daemon answered with an error, or with something this proxyctl does not understand (exit 1). */
export class Failed extends UserError {
  constructor(message: string, readonly body?: unknown) {
    super(message);
  }
}

interface Answer {
  status: number;
  body: string;
  /** the socket that answered */
  path: string;
}

const TIMEOUT_MS = 30_000;

export class ControlClient {
  readonly #candidates: string[];

  constructor(explicit?: string) {
    this.#candidates = controlCandidates(explicit);
  }

  /** The first answer from the places in order; a place with no daemon (absent, refused) is skipped. `timeoutMs`: for a request that works long (doctor). */
  async send(method: string, path: string, timeoutMs = TIMEOUT_MS): Promise<Answer> {
    const denied: string[] = [];
    const tried: string[] = [];
    for (const socketPath of this.#candidates) {
      try {
        return await once(socketPath, method, path, timeoutMs);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EACCES' && code !== 'EPERM') {
          tried.push(`${socketPath} (${code === 'ENOENT' ? 'no socket' : code === 'ECONNREFUSED' ? 'nothing listening' : (err as Error).message})`);
          continue;
        }
        // the system service answers reports to everyone on its read-only socket
        if (isSystemPath(socketPath) && isReport(method, new URL(path, 'http://proxyd').pathname)) {
          const answer = await once(readOnlySocket(socketPath), method, path, timeoutMs).catch(() => undefined);
          if (answer) return answer;
        }
        denied.push(socketPath);
      }
    }
    if (denied.length) {
      const system = denied.some(isSystemPath);
      throw new Refused(`permission denied on the control socket ${denied.join(', ')}${system ? `: join the group "${CONTROL_GROUP}" (sudo usermod -aG ${CONTROL_GROUP} $USER, then log in again)` : ': it belongs to another user'}`);
    }
    throw new Unreachable(`cannot reach proxyd: no daemon answers at ${tried.join(', ')}`);
  }

  /** GET or POST a report, checked against its schema. */
  async report<T>(method: string, path: string, schema: z.ZodType<T>, okStatuses = [200], timeoutMs = TIMEOUT_MS): Promise<T> {
    const answer = await this.send(method, path, timeoutMs);
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      throw new Failed(`the daemon at ${answer.path} answered ${path} with something other than JSON (HTTP ${answer.status})`);
    }
    if (!okStatuses.includes(answer.status)) {
      const error = ErrorReply.safeParse(parsed);
      throw new Failed(error.success ? error.data.error : `HTTP ${answer.status} from ${path}`, parsed);
    }
    const checked = schema.safeParse(parsed);
    if (!checked.success) {
      const issue = checked.error.issues[0]!;
      throw new Failed(`the daemon's answer to ${path} does not match this proxyctl (at ${issue.path.join('.') || 'top'}: ${issue.message}); are they the same version?`);
    }
    return checked.data;
  }
}

function once(socketPath: string, method: string, path: string, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), path: socketPath }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}
