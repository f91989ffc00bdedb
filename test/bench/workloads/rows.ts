// What a workload is to the section: rows measured in blocks. A block is one setup measured in
// order (a fresh proxyd: cold, then warm, then "a few minutes later"), and each round runs every
// block of the workload once, in a rotated order, so that the rows of a round share the machine's
// state of the moment; each figure is the median over the rounds.
import { treeCpuSeconds } from '../proc.ts';

export interface WorkloadContext {
  /** a fresh directory of this run */
  dir: string;
  repoRoot: string;
  /** the origin's delay per request, ms */
  delayMs: number;
  log: (line: string) => void;
}

export interface Measure {
  seconds: number;
  /** user + system CPU seconds of the proxy (or the peer) over the run; NaN where there is none */
  cpu: number;
  /** requests the origin answered during the run (304s among them in `notModified`) */
  origin: number;
  notModified: number;
  /** requests proxyd answered to the client during the run; NaN where proxyd is not in the path */
  proxyd: number;
}

export interface Block {
  /** the rows it measures, in order */
  rows: string[];
  /** why the block cannot run (a peer not installed or not set up): its rows say so */
  missing?: string;
  run(record: (row: string, m: Measure) => void): Promise<void>;
}

export interface Target {
  /** what is compared: `row` ≤ `limit` × `against` (wall time) */
  row: string;
  against: string;
  limit: number;
}

export interface Workload {
  id: string;
  title: string;
  method: string;
  rows: string[];
  blocks: Block[];
  targets: Target[];
  close(): Promise<void>;
}

/** Something that counts the requests it answered (the delayed origin, the git server). */
export interface Counted {
  counts(): { requests: number; notModified: number };
}

/**
 * Runs `client` and measures it: wall time (the client's own), the CPU of the process trees `pid`
 * (when given), the requests `origin` answered and `proxydRequests` counted meanwhile.
 */
export async function measure(client: () => Promise<number>, opts: { origin?: Counted; pid?: number | number[]; proxydRequests?: () => Promise<number> }): Promise<Measure> {
  const before = opts.origin?.counts();
  const pids = opts.pid === undefined ? [] : [opts.pid].flat();
  const cpuNow = () => (pids.length ? pids.reduce((t, pid) => t + treeCpuSeconds(pid), 0) : NaN);
  const cpu0 = cpuNow();
  const req0 = opts.proxydRequests ? await opts.proxydRequests() : NaN;
  const seconds = await client();
  const cpu = cpuNow() - cpu0;
  const req = opts.proxydRequests ? (await opts.proxydRequests()) - req0 : NaN;
  const after = opts.origin?.counts();
  return {
    seconds,
    cpu: cpu >= 0 ? cpu : NaN,
    origin: before && after ? after.requests - before.requests : NaN,
    notModified: before && after ? after.notModified - before.notModified : NaN,
    proxyd: req,
  };
}
