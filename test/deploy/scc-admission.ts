/**
 * A model of OpenShift's SecurityContextConstraints admission, for the strategies KubeMom's SCC uses (no OpenShift
 * runs here): does an SCC admit a pod spec, and if not, why. Read from openshift/apiserver-library-go
 * pkg/securitycontextconstraints (sccmatching/provider.go and the user, selinux, group and capabilities strategies):
 * the pod is first defaulted from the SCC (a field left unset takes the SCC's value), then validated, so an unset
 * field is admitted and a set one must match.
 */

type Json = Record<string, any>;

interface IdRange {
  min: number;
  max: number;
}

const inRanges = (id: number, ranges: IdRange[] | undefined) => (ranges ?? []).some((r) => id >= r.min && id <= r.max);

/** The volume source of a pod volume, as SCC `volumes` names it (emptyDir, hostPath, configMap, ...). */
function volumeType(volume: Json): string {
  const type = Object.keys(volume).find((k) => k !== 'name');
  if (!type) throw new Error(`volume ${volume.name} has no source`);
  return type;
}

function groupViolations(what: string, strategy: Json | null | undefined, ids: number[]): string[] {
  if (!strategy || strategy.type === 'RunAsAny') return [];
  if (strategy.type !== 'MustRunAs') throw new Error(`${what} strategy ${strategy.type} is not modelled`);
  return ids.filter((id) => !inRanges(id, strategy.ranges)).map((id) => `${what}: ${id} is not an allowed group`);
}

/** Why `scc` refuses `pod` (a pod template's spec); empty when it admits it. */
export function sccViolations(scc: Json, pod: Json): string[] {
  const errors: string[] = [];
  if (pod.hostNetwork && !scc.allowHostNetwork) errors.push('hostNetwork: host network is not allowed');
  if (pod.hostPID && !scc.allowHostPID) errors.push('hostPID: host PID is not allowed');
  if (pod.hostIPC && !scc.allowHostIPC) errors.push('hostIPC: host IPC is not allowed');
  const allowedVolumes: string[] = scc.volumes ?? [];
  // The ServiceAccount admission plugin, which runs first, adds the token volume unless the pod opts out.
  const injected = pod.automountServiceAccountToken === false ? [] : [{ name: 'kube-api-access', projected: { sources: [] } }];
  for (const volume of [...(pod.volumes ?? []), ...injected]) {
    const type = volumeType(volume);
    if (!allowedVolumes.includes('*') && !allowedVolumes.includes(type)) errors.push(`volumes: ${type} volumes are not allowed (${volume.name})`);
    if (type === 'hostPath' && !scc.allowHostDirVolumePlugin) errors.push(`volumes: hostPath volumes are not allowed (${volume.name})`);
  }
  const podContext: Json = pod.securityContext ?? {};
  errors.push(...groupViolations('supplementalGroups', scc.supplementalGroups, podContext.supplementalGroups ?? []));
  errors.push(...groupViolations('fsGroup', scc.fsGroup, podContext.fsGroup === undefined ? [] : [podContext.fsGroup]));

  for (const container of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    const c: Json = container.securityContext ?? {};
    const name = container.name;
    if (c.privileged && !scc.allowPrivilegedContainer) errors.push(`${name}: privileged containers are not allowed`);
    if (c.allowPrivilegeEscalation === true && scc.allowPrivilegeEscalation === false) errors.push(`${name}: privilege escalation is not allowed`);
    for (const cap of c.capabilities?.add ?? []) {
      if (!(scc.allowedCapabilities ?? []).includes(cap) && !(scc.allowedCapabilities ?? []).includes('*')) errors.push(`${name}: capability ${cap} may not be added`);
    }
    if (scc.readOnlyRootFilesystem && c.readOnlyRootFilesystem === false) errors.push(`${name}: the root filesystem must be read-only`);
    for (const port of container.ports ?? []) {
      if (port.hostPort && !scc.allowHostPorts) errors.push(`${name}: host port ${port.hostPort} is not allowed`);
    }

    const runAsUser = c.runAsUser ?? podContext.runAsUser;
    const userStrategy = scc.runAsUser ?? { type: 'RunAsAny' };
    if (userStrategy.type === 'MustRunAs') {
      if (runAsUser !== undefined && runAsUser !== userStrategy.uid) errors.push(`${name}: runAsUser ${runAsUser} is not ${userStrategy.uid}`);
    } else if (userStrategy.type !== 'RunAsAny') throw new Error(`runAsUser strategy ${userStrategy.type} is not modelled`);

    const seLinux: Json | undefined = c.seLinuxOptions ?? podContext.seLinuxOptions;
    const seLinuxStrategy = scc.seLinuxContext ?? { type: 'RunAsAny' };
    if (seLinuxStrategy.type === 'MustRunAs') {
      const want: Json = seLinuxStrategy.seLinuxOptions ?? {};
      for (const field of ['user', 'role', 'type', 'level']) {
        if (seLinux !== undefined && (seLinux[field] ?? '') !== (want[field] ?? '')) {
          errors.push(`${name}: seLinuxOptions.${field} "${seLinux[field] ?? ''}" does not match the required "${want[field] ?? ''}"`);
        }
      }
    } else if (seLinuxStrategy.type !== 'RunAsAny') throw new Error(`seLinuxContext strategy ${seLinuxStrategy.type} is not modelled`);

    const seccomp: Json | undefined = c.seccompProfile ?? podContext.seccompProfile;
    if (seccomp !== undefined) {
      const profile = seccomp.type === 'RuntimeDefault' ? 'runtime/default' : seccomp.type === 'Unconfined' ? 'unconfined' : `localhost/${seccomp.localhostProfile}`;
      const allowed: string[] = scc.seccompProfiles ?? [];
      if (!allowed.includes('*') && !allowed.includes(profile)) errors.push(`${name}: seccomp profile ${profile} is not allowed`);
    }
  }
  return errors;
}
