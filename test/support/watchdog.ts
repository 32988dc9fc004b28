/**
 * A watchdog for event-loop stalls: a worker thread watches a heartbeat the main thread writes
 * into a SharedArrayBuffer every 20 ms. `maxStallMs` is the longest the heartbeat stood still
 * while the watchdog ran (assert it below a bound after the work); a stall longer than `abortMs`
 * (a loop that never returns: the test itself cannot fail any more) prints what stalled on stderr
 * and kills the process, so the run fails instead of hanging.
 *
 *   const dog = await Watchdog.start('feature window 1.7e18');
 *   ...work...
 *   expect(await dog.stop()).to.be.below(1000);
 */
import { Worker } from 'worker_threads';

const WORKER = `
const { workerData } = require('worker_threads');
const fs = require('fs');
const a = new Int32Array(workerData.sab);
const t0 = workerData.t0;
let max = 0;
const timer = setInterval(() => {
  if (Atomics.load(a, 2) === 1) { clearInterval(timer); Atomics.store(a, 3, 1); Atomics.notify(a, 3); return; }
  const stall = (Date.now() - t0) - Atomics.load(a, 0);
  if (stall > max) { max = stall; Atomics.store(a, 1, max); }
  if (stall > workerData.abortMs) {
    fs.writeSync(2, '\\nwatchdog: the event loop has stalled for ' + stall + ' ms (' + workerData.label + '): killing the process\\n');
    process.kill(process.pid, 'SIGKILL');
  }
}, 10);
Atomics.store(a, 3, 2);
`;

export class Watchdog {
  private readonly a: Int32Array;
  private readonly beat: NodeJS.Timeout;
  private constructor(private readonly worker: Worker, sab: SharedArrayBuffer, t0: number) {
    this.a = new Int32Array(sab);
    this.beat = setInterval(() => { Atomics.store(this.a, 0, Date.now() - t0); }, 20);
  }

  /** Starts watching once the worker runs. */
  static async start(label: string, abortMs = 10000): Promise<Watchdog> {
    const sab = new SharedArrayBuffer(16);
    const a = new Int32Array(sab);
    const t0 = Date.now();
    Atomics.store(a, 0, 0);
    const worker = new Worker(WORKER, { eval: true, workerData: { sab, t0, abortMs, label } });
    worker.unref();
    const dog = new Watchdog(worker, sab, t0);
    // wait until the worker watches (it stores 2 in slot 3)
    while (Atomics.load(a, 3) !== 2) await new Promise((r) => setTimeout(r, 10));
    Atomics.store(a, 1, 0);
    return dog;
  }

  /** The longest stall so far, ms (at the worker's 10 ms resolution). */
  get maxStallMs(): number { return Atomics.load(this.a, 1); }

  /** Stops watching; resolves with the longest stall seen, ms. */
  async stop(): Promise<number> {
    clearInterval(this.beat);
    const max = this.maxStallMs;
    Atomics.store(this.a, 2, 1);
    await this.worker.terminate();
    return max;
  }
}
