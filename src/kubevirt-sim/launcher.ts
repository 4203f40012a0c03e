/**
 * What virt-launcher knows about a sidecar-rewritten domain: the hook subdirectory KubeVirt gives the first sidecar
 * container, and where the domain's QEMU puts KubeMom's QMP side monitor. Shared by the demo (src/demo/demo-vm.ts)
 * and the test bed's real guests (testbed/test-vm.ts).
 */
import { QMP_CHARDEV_ID } from '../hook-sidecar/domain-rewrite.js';

/** KubeVirt names the first sidecar's container, and so its hook subdirectory, this way. */
export const SIDECAR_CONTAINER = 'hook-sidecar-0';

/** The socket path of the sidecar's QMP side monitor (`-chardev socket,id=kubemom-qmp,path=...`) in a domain XML. */
export function qmpSocketInDomain(domainXml: string): string | undefined {
  const match = new RegExp(`socket,id=${QMP_CHARDEV_ID},path=([^,"']+),server=on`).exec(domainXml);
  return match?.[1];
}
