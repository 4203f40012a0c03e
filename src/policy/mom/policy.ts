/**
 * The `mom` built-in policy: vdsm's balloon and KSM policies over MOM's view of the
 * input (KiB, last 10 samples), as a KubeMom Policy. Targets are MOM's int KiB, in bytes.
 */
import type { BalloonDecision, IoDecision, IoRates, Policy, PolicyDecisions, PolicyInput } from '../types.js';
import { momView } from './view.js';
import { normalizeRates, sameRates } from '../../balloon/io-pressure.js';
import { momBalloon } from './balloon.js';
import { ksmWrites, momKsmControls } from './ksm.js';

/** vdsm's policy flags (MOM policy parameters). */
export interface MomParameters {
  /** Off by default, as in vdsm (oVirt turns it on per cluster): only the grow path runs. */
  balloonEnabled: boolean;
  ksmEnabled: boolean;
  ksmMergeAcrossNodes: boolean;
  /** vdsm's ioTuneEnabled: off by default (as vdsm's 00-defaults), no IO limits from the policy. */
  ioTuneEnabled: boolean;
  /** The policy's maximum for every disk (oVirt's storage QoS maximum), 0 unlimited. */
  ioTotalBytesSec: number;
  ioReadBytesSec: number;
  ioWriteBytesSec: number;
  ioTotalIopsSec: number;
  ioReadIopsSec: number;
  ioWriteIopsSec: number;
}

export const MOM_DEFAULT_PARAMETERS: MomParameters = {
  balloonEnabled: false,
  ksmEnabled: true,
  ksmMergeAcrossNodes: true,
  ioTuneEnabled: false,
  ioTotalBytesSec: 0,
  ioReadBytesSec: 0,
  ioWriteBytesSec: 0,
  ioTotalIopsSec: 0,
  ioReadIopsSec: 0,
  ioWriteIopsSec: 0,
};

/**
 * vdsm's 05-iotune.policy: with ioTuneEnabled every disk's limits are set to the policy's
 * maximum, otherwise to 0 (unlimited); decided when they differ from the VM's current ones. Here for every VM that opted in to node IO
 * throttling (kubemom.io/io-throttle); the owner's own limits still apply under both.
 */
export function momIoTune(input: PolicyInput, params: MomParameters): IoDecision[] {
  const max: IoRates = params.ioTuneEnabled
    ? {
        total_bytes_sec: params.ioTotalBytesSec,
        read_bytes_sec: params.ioReadBytesSec,
        write_bytes_sec: params.ioWriteBytesSec,
        total_iops_sec: params.ioTotalIopsSec,
        read_iops_sec: params.ioReadIopsSec,
        write_iops_sec: params.ioWriteIopsSec,
      }
    : {};
  const limits = normalizeRates(max);
  // As with KSM, only values that differ from the live ones are decided (MOM re-sends them every cycle).
  return input.guests
    .filter((g) => g.ioThrottle && !sameRates(limits, g.ioLimits ?? {}))
    .map((g) => ({ guestId: g.id, limits: { ...limits }, reason: params.ioTuneEnabled ? 'iotune-max' : 'iotune-off' }));
}

/** MOM keeps no state between cycles beyond its monitors' histories, which are inputs here. */
export type MomState = Record<string, never>;

function notRun(reason: string): PolicyDecisions {
  return { balloons: [], ksm: {}, notRun: reason };
}

/** Evaluates MOM's policies once; a failure (as MOM's would) means no controller runs. */
export function evaluateMom(input: PolicyInput, params: MomParameters): PolicyDecisions {
  if (input.host.history.length === 0) return notRun('host monitor is not ready (no sample)');
  const view = momView(input);
  try {
    const balloon = momBalloon(view.host, view.guests, params.balloonEnabled);
    // A host without KSM (no sysfs) has nothing to control; the balloon part still runs.
    const ksm = input.host.ksm === undefined ? {} : ksmWrites(momKsmControls(view.host, params), input.host.ksm);
    const byId = new Map(input.guests.map((g) => [g.id, g]));
    const balloons: BalloonDecision[] = [...balloon.targets].map(([guestId, t]) => {
      const g = byId.get(guestId)!;
      // MOM's sizes are whole KiB; a guaranteed size that is not (e.g. "1500M") must
      // not be undercut by the truncation, nor any target exceed the guest's memory.
      const targetBytes = Math.min(Math.max(t.targetKib * 1024, g.guaranteedMemoryBytes), g.guestMemoryBytes);
      return { guestId, targetBytes, reason: t.reason };
    });
    const io = momIoTune(input, params);
    return { balloons, ksm, skipped: balloon.skipped, ...(io.length > 0 ? { io } : {}) };
  } catch (err) {
    return notRun(`policy evaluation failed: ${(err as Error).message}`);
  }
}

/** The `mom` policy with the given flags. */
export function momPolicy(params: Partial<MomParameters> = {}): Policy<MomState> {
  const p: MomParameters = { ...MOM_DEFAULT_PARAMETERS, ...params };
  return {
    name: 'mom',
    initialState: () => ({}),
    evaluate: (input, state) => ({ decisions: evaluateMom(input, p), state }),
  };
}
