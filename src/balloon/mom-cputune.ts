/** vdsm's CPU-tune formula (04-cputune.policy) as a pure function. */

export interface CpuTuneInput {
  cpuTuneEnabled: boolean;
  /** vcpu_user_limit, percent of the host's CPU the VM may use. */
  vcpuUserLimit: number;
  hostCpuCount: number;
  vcpuCount: number;
}

export interface CpuTune {
  /** vcpu_quota in microseconds; -1 is unlimited. */
  quota: number;
  /** vcpu_period in microseconds. */
  period: number;
}

/** quota/period for a VM's vCPUs, in vdsm's arithmetic order. */
export function momCpuTune(input: CpuTuneInput): CpuTune {
  if (input.cpuTuneEnabled && input.vcpuUserLimit < 100) {
    const q = (input.vcpuUserLimit / 100) * 100000 * input.hostCpuCount / input.vcpuCount;
    const m = q > 1000 ? 1 : 1 + 1000 / q;
    return { quota: m * q, period: m * 100000 };
  }
  return { quota: -1, period: 100000 };
}
