// Alarm thread of the precise delay scheduler (nodes/scheduler-precise.ts).
//
// It only sleeps: blocked in Atomics.wait until the wake-up time the main thread stored in
// shared memory, then it posts that time (a number; the one start-up message is an object) so
// the main thread starts polling for the final stretch and learns how late the alarm arrived. The main thread re-arms it by storing a new time and notifying. Plain .mjs so that it
// needs no TypeScript loader, whether the scheduler runs under tsx, vitest or `node --import tsx`.
//
// Shared layout (see scheduler-precise.ts):
//   control: Int32Array  [0] = sequence (bumped + notified when the alarm moves earlier), [1] = stop flag
//   alarm:   BigInt64Array [0] = wake-up time, ns since workerData.epochNs (hrtime); DISARMED = never
import { parentPort, workerData } from 'node:worker_threads';
import { readlinkSync, writeFileSync } from 'node:fs';

const SEQ = 0;
const STOP = 1;
const DISARMED = 0x7fff_ffff_ffff_ffffn;

const { control, alarm: alarmBuffer, epochNs, timerSlackNs } = workerData;
const ctl = new Int32Array(control);
const alarm = new BigInt64Array(alarmBuffer);

// The kernel rounds a sleeping thread's wake-up up by its timer slack (50 µs by default), which
// would add 0–50 µs of jitter to every alarm. A thread may change its own slack without
// privileges; /proc/<tid>/timerslack_ns addresses this thread alone (/proc/self would be the
// process's main thread, /proc/thread-self has no such file). Not Linux, or not allowed: keep it.
let slackSet = false;
if (timerSlackNs > 0) {
  try {
    const tid = readlinkSync('/proc/thread-self').split('/').pop();
    writeFileSync(`/proc/${tid}/timerslack_ns`, String(timerSlackNs));
    slackSet = true;
  } catch {
    // Best effort only: precision degrades by at most the default slack.
  }
}
parentPort.postMessage({ ready: true, slackSet });

for (;;) {
  // Read the sequence before the alarm: a re-arm that lands after this read changes the
  // sequence, so the wait below returns at once instead of missing it.
  const seq = Atomics.load(ctl, SEQ);
  if (Atomics.load(ctl, STOP) !== 0) break;
  const at = Atomics.load(alarm, 0);
  if (at === DISARMED) {
    Atomics.wait(ctl, SEQ, seq);
    continue;
  }
  const remainingNs = at - (process.hrtime.bigint() - epochNs);
  if (remainingNs > 0n) {
    Atomics.wait(ctl, SEQ, seq, Number(remainingNs) / 1e6);
    continue;
  }
  // Disarm only if the main thread did not move the alarm meanwhile; one message per arming.
  if (Atomics.compareExchange(alarm, 0, at, DISARMED) === at) parentPort.postMessage(Number(at));
}
