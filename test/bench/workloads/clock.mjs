// Preloaded (node --import) into proxyd and verdaccio by the workload bench: each SIGUSR2 moves
// this process's clock (Date.now, new Date(), performance.now) 10 minutes on, as if that much
// time had passed with nothing else happening. Timers (setTimeout, setInterval) run on their own
// monotonic clock and are not moved. The bench uses it for "a few minutes later": every cache
// in memory and on disk is still there; what was kept for a limited time has expired.
const STEP_MS = 10 * 60_000;
let offset = 0;
const RealDate = Date;
const realNow = RealDate.now;
const realPerfNow = performance.now.bind(performance);
class ShiftedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(realNow() + offset);
    else super(...args);
  }
  static now() { return realNow() + offset; }
}
globalThis.Date = ShiftedDate;
performance.now = () => realPerfNow() + offset;
process.on('SIGUSR2', () => { offset += STEP_MS; });
