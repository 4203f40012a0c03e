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

/** What MOM's CPU tune would set for one VM, beside what Kubernetes applies. */
export interface VmCpuTune {
  guestId: string;
  vcpus: number;
  /** The pod's CPU limit (spec.domain.resources.limits.cpu) in cores; undefined: none. */
  kubernetesLimitCores?: number;
  /** vcpu_user_limit: the pod limit as a percent of the host's CPUs (100 without a limit), as oVirt's CPU QoS. */
  vcpuUserLimit: number;
  /** MOM's per-vCPU quota and period, microseconds (quota -1: unlimited). */
  quota: number;
  period: number;
  /** vcpus x quota / period: the cores MOM would let the vCPUs use; undefined when unlimited. */
  momLimitCores?: number;
}

/**
 * MOM's vCPU limit for a KubeVirt VM: oVirt's CPU QoS limit is a percent of the host, so the
 * pod's CPU limit maps to vcpu_user_limit = 100 x limit / host CPUs; vdsm's formula then gives
 * each vCPU thread quota/period. Kubernetes instead applies the limit to the whole pod cgroup
 * (vCPUs, emulator threads and virt-launcher together).
 */
export function vmCpuTune(guestId: string, vcpus: number, limitMillicores: number | undefined, hostCpuCount: number): VmCpuTune {
  const vcpuUserLimit = limitMillicores === undefined ? 100 : (100 * limitMillicores) / 1000 / hostCpuCount;
  const t = momCpuTune({ cpuTuneEnabled: true, vcpuUserLimit, hostCpuCount, vcpuCount: vcpus });
  const out: VmCpuTune = { guestId, vcpus, vcpuUserLimit, quota: t.quota, period: t.period };
  if (limitMillicores !== undefined) out.kubernetesLimitCores = limitMillicores / 1000;
  if (t.quota > 0) out.momLimitCores = (vcpus * t.quota) / t.period;
  return out;
}
