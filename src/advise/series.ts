/**
 * The series `kubemom advise` reads, named and labelled as KubeVirt and the node
 * exporters document them:
 *
 * - virt-handler's per-VMI memory statistics (kubevirt/kubevirt
 *   pkg/monitoring/metrics/virt-handler/domainstats/memory_metrics.go, labels `node`,
 *   `namespace`, `name` from domainstats.go; listed in kubevirt/monitoring docs/metrics.md):
 *   `kubevirt_vmi_memory_domain_bytes` (the domain's `<memory>`), `..._actual_balloon_bytes`
 *   (what the guest has now), `..._usable_bytes` (the guest's MemAvailable),
 *   `..._swap_in_traffic_bytes` and `..._pgmajfault_total` (distress);
 * - virt-controller's `kubevirt_vm_resource_requests{resource="memory",unit="bytes"}`
 *   (pkg/monitoring/metrics/virt-controller/vmstats_collector.go): `source="domain"` is
 *   spec.domain.resources.requests.memory, the floor KubeMom keeps by default, and
 *   `source="hugepages"` marks hugepage-backed VMs;
 * - node_exporter's `node_memory_MemTotal_bytes` and `node_memory_MemAvailable_bytes`,
 *   whose node label is `instance` holding the node name in kube-prometheus and
 *   OpenShift (the descheduler's own rules rely on it).
 */

export const VMI = {
  domain: 'kubevirt_vmi_memory_domain_bytes',
  actual: 'kubevirt_vmi_memory_actual_balloon_bytes',
  usable: 'kubevirt_vmi_memory_usable_bytes',
  swapIn: 'kubevirt_vmi_memory_swap_in_traffic_bytes',
  majorFaults: 'kubevirt_vmi_memory_pgmajfault_total',
} as const;

export const VM_REQUESTS = 'kubevirt_vm_resource_requests';
export const NODE = { total: 'node_memory_MemTotal_bytes', available: 'node_memory_MemAvailable_bytes' } as const;

/** VMI series key: the labels virt-handler sets on every VMI series. */
export const VMI_KEY = ['namespace', 'name', 'node'] as const;

/** A selector restricted to some nodes (by the label that holds the node name), or all. */
export function nodeMatcher(label: string, nodes?: readonly string[]): string {
  if (!nodes) return '';
  const escaped = nodes.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\/g, '\\\\').replace(/"/g, '\\"'));
  return `${label}=~"${escaped.join('|')}"`;
}

/** `max by (namespace, name, node) (metric{node=~...})`: one series per VMI placement, extra labels dropped. */
export function vmiQuery(metric: string, nodes?: readonly string[]): string {
  const m = nodeMatcher('node', nodes);
  return `max by (namespace, name, node) (${metric}${m ? `{${m}}` : ''})`;
}
