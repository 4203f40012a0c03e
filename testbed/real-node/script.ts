/**
 * The real-node script: the node, its VM pods, what each guest does and when, and the noisy
 * pod's squeeze. Plain data, so the test, the bench and the scenario file that mirrors it
 * (scenarios/real-node.yaml) describe the same run. Times are seconds from the script's
 * start (every sidecar live in the shim); sizes MiB.
 *
 * Workloads run in the guest through its console agent (testbed/guest-scripts.ts):
 * - `page-cache`: reads the guest's disk once (`dd` of /dev/vda), with the device held open
 *   by a background reader so its page cache stays (Linux drops a block device's cache
 *   when its last opener closes it). Reclaimable in the guest, resident on the host.
 * - `anon`: grows in steps of tmpfs files on /hog: memory the guest cannot give up.
 * - `burst`: more of the same at `atSeconds`, dropped `holdSeconds` later.
 * - `leak`: `stepMiB` more every `everySeconds` from `atSeconds` to the end.
 */
export type GuestWorkload =
  | { kind: 'page-cache'; atSeconds: number; mib: number }
  | { kind: 'anon'; atSeconds: number; mib: number; stepMiB: number; everySeconds: number }
  | { kind: 'burst'; atSeconds: number; mib: number; holdSeconds: number }
  | { kind: 'leak'; atSeconds: number; stepMiB: number; everySeconds: number };

export interface ScriptGuest {
  /** VMI name prefix (the test bed adds a random suffix). */
  name: string;
  memoryMiB: number;
  /** The VMI's requests.memory: the policies' floor. */
  requestMiB: number;
  workloads: GuestWorkload[];
}

export interface RealNodeScript {
  durationSeconds: number;
  /** The pods cgroup's limit: the node's capacity less the kubelet's reservations. */
  kubepodsLimitMiB: number;
  /** systemReserved + kubeReserved: the played node's MemTotal is kubepods limit + this. */
  reservedMiB: number;
  /** The kubelet's evictionHard memory.available, MiB. */
  evictionHardMiB: number;
  /** A VM pod's limit is its guest memory plus this (QEMU, virt-launcher, the sidecar). */
  podOverheadMiB: number;
  /** The guests' balloon stats period (kubemom.io/stats-period), s. */
  statsPeriodSeconds: number;
  guests: ScriptGuest[];
  /** The noisy pod: a non-VM process that grows to `mib` at `atSeconds` and frees it at `releaseSeconds`. */
  noisy: { limitMiB: number; atSeconds: number; mib: number; stepMiB: number; everySeconds: number; releaseSeconds: number };
}

/**
 * Four 512 MiB guests on a node whose pods may use 2176 MiB: two file servers fill their page
 * cache, an application grows and bursts, one leaks; the noisy pod takes 448 MiB for a minute.
 * Without ballooning the pods cgroup then holds more than its limit. With every guest at its
 * floor (the files servers at their requests, the others at what they use) and the overhead
 * measured per VM pod (about 150 MiB under TCG with the sidecar), about 260 MiB stay above the
 * hard threshold at the worst moment (the burst during the squeeze): room for a policy to act.
 * (With 2048 MiB it was about 40 MiB: a first run crossed the threshold under every policy.)
 */
export const REAL_NODE_SCRIPT: RealNodeScript = {
  durationSeconds: 160,
  kubepodsLimitMiB: 2176,
  reservedMiB: 256,
  evictionHardMiB: 100,
  podOverheadMiB: 192,
  statsPeriodSeconds: 2,
  guests: [
    { name: 'files-0', memoryMiB: 512, requestMiB: 128, workloads: [{ kind: 'page-cache', atSeconds: 5, mib: 320 }] },
    { name: 'files-1', memoryMiB: 512, requestMiB: 128, workloads: [{ kind: 'page-cache', atSeconds: 10, mib: 320 }] },
    {
      name: 'app',
      memoryMiB: 512,
      requestMiB: 128,
      workloads: [
        { kind: 'anon', atSeconds: 5, mib: 192, stepMiB: 16, everySeconds: 1 },
        { kind: 'burst', atSeconds: 90, mib: 160, holdSeconds: 25 },
      ],
    },
    { name: 'leaky', memoryMiB: 512, requestMiB: 128, workloads: [{ kind: 'leak', atSeconds: 5, stepMiB: 8, everySeconds: 4 }] },
  ],
  noisy: { limitMiB: 640, atSeconds: 70, mib: 448, stepMiB: 64, everySeconds: 0.5, releaseSeconds: 130 },
};

/** One guest command at a time in the script. */
export interface GuestStep {
  atSeconds: number;
  /** The console agent's `run` argument. */
  command: string;
  /** What the step does, for the log. */
  label: string;
}

const DEVICE_READER = 'sleep 1000000 </dev/vda >/dev/null 2>&1 &';

/** The timed console commands of one guest's workloads, in time order. */
export function guestSteps(guest: ScriptGuest, durationSeconds: number): GuestStep[] {
  const steps: GuestStep[] = [];
  let n = 0;
  const fill = (tag: string, mib: number): string => `dd if=/dev/zero of=/hog/${tag}.${++n} bs=1048576 count=${mib} 2>/dev/null`;
  for (const w of guest.workloads) {
    switch (w.kind) {
      case 'page-cache':
        steps.push({ atSeconds: w.atSeconds, command: `${DEVICE_READER} dd if=/dev/vda of=/dev/null bs=1048576 count=${w.mib} 2>/dev/null`, label: `page cache ${w.mib} MiB` });
        break;
      case 'anon':
        for (let done = 0, t = w.atSeconds; done < w.mib; done += w.stepMiB, t += w.everySeconds) {
          steps.push({ atSeconds: t, command: fill('anon', Math.min(w.stepMiB, w.mib - done)), label: 'anon step' });
        }
        break;
      case 'burst':
        steps.push({ atSeconds: w.atSeconds, command: fill('burst', w.mib), label: `burst ${w.mib} MiB` });
        steps.push({ atSeconds: w.atSeconds + w.holdSeconds, command: 'rm -f /hog/burst.*', label: 'burst over' });
        break;
      case 'leak':
        for (let t = w.atSeconds; t < durationSeconds; t += w.everySeconds) steps.push({ atSeconds: t, command: fill('leak', w.stepMiB), label: 'leak step' });
        break;
    }
  }
  return steps.sort((a, b) => a.atSeconds - b.atSeconds);
}

/** The guest's disk size a script needs (the largest page-cache read, rounded up). */
export function diskMiB(guest: ScriptGuest): number {
  return Math.max(0, ...guest.workloads.map((w) => (w.kind === 'page-cache' ? w.mib + 64 : 0)));
}
