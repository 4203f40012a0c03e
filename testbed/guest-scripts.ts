/**
 * The tiny guest's userland: two busybox shell scripts packed into its initramfs.
 *
 * `/init` loads the virtio balloon driver chain, mounts a tmpfs at /hog and runs the
 * agent on the serial console. The agent reads one command per line and answers
 * between markers, so the host can tell its replies from anything else on the line.
 *
 * Protocol (host to guest): `<seq> <command> [args]`, seq a decimal number.
 * Guest to host: `@@km <seq> begin`, the reply's lines, `@@km <seq> end <status>`
 * (status 0 on success). The agent prints `@@km ready` when it starts.
 *
 * Commands:
 *   ping                 answers `pong`
 *   meminfo              prints /proc/meminfo
 *   alloc <MiB> [zero|random]
 *                        writes <MiB> MiB into a new file on /hog (tmpfs), so every
 *                        page is touched and stays resident; prints the total held
 *   free                 deletes everything on /hog; prints the total held (0)
 *   run <shell command>  runs the command with sh -c, prints its output
 *
 * Why tmpfs: busybox has no program that holds anonymous memory, and a shell
 * variable is slow to build and copied on use. tmpfs pages are shmem: swap-backed,
 * so with no swap they cannot be reclaimed, they count in MemTotal - MemAvailable
 * exactly like anonymous memory, and freeing them (rm) returns them at once. The
 * one difference: the OOM killer cannot free them by killing a process, so a guest
 * that runs out of memory while holding tmpfs kills its processes, then panics, as
 * a guest whose memory is pinned by its workload would.
 */

/** The modules /init loads, in dependency order (from the Debian cloud kernel). */
export const GUEST_MODULES = [
  'virtio_ring',
  'virtio',
  'virtio_pci_legacy_dev',
  'virtio_pci_modern_dev',
  'virtio_pci',
  'virtio_balloon',
  'virtio_blk',
  // KubeVirt's memory hotplug adds a virtio-mem device (v1.6+); its memory is onlined movable (memhp_default_state).
  'virtio_mem',
] as const;

/** Where each module lives under the kernel's `kernel/` tree (default drivers/virtio). */
export const GUEST_MODULE_DIRS: Readonly<Record<string, string>> = { virtio_blk: 'drivers/block' };

export const INIT_SCRIPT = `#!/bin/sh
# PID 1 of the KubeMom test guest.
/bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin /hog /tmp
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in ${GUEST_MODULES.join(' ')}; do
  insmod /lib/modules/$m.ko || echo "@@km insmod $m failed"
done
# size=0: no limit, so an allocation can use all guest memory (and trigger the OOM killer).
mount -t tmpfs -o size=0,mode=0700 hog /hog
# Keep kernel messages off the console (they would interleave with replies); dmesg has them.
dmesg -n 1
stty -F /dev/ttyS0 raw -echo
while true; do
  /bin/km-agent </dev/ttyS0 >/dev/ttyS0 2>&1
  sleep 1
done
`;

export const AGENT_SCRIPT = `#!/bin/sh
# The KubeMom test guest agent: one command per line on the serial console.
set -f
HOG=/hog
n=0
held() { du -sm $HOG | cut -f1; }
alloc() {
  mib=$1
  fill=\${2:-zero}
  case "$mib" in ''|*[!0-9]*) echo "alloc: size must be whole MiB, got '$mib'"; return 2;; esac
  case "$fill" in
    zero) src=/dev/zero;;
    random) src=/dev/urandom;;
    *) echo "alloc: fill must be zero or random, got '$fill'"; return 2;;
  esac
  n=$((n + 1))
  if ! dd if=$src of=$HOG/chunk.$n bs=1048576 count=$mib iflag=fullblock 2>/tmp/dd.err; then
    cat /tmp/dd.err
    return 1
  fi
  echo "held $(held)"
}
echo "@@km ready"
while IFS= read -r line; do
  line=\${line%$(printf '\\r')}
  set -- $line
  seq=$1
  case "$seq" in ''|*[!0-9]*) continue;; esac
  cmd=$2
  echo "@@km $seq begin"
  rc=0
  case "$cmd" in
    ping) echo pong;;
    meminfo) cat /proc/meminfo;;
    alloc) alloc "$3" "$4"; rc=$?;;
    free) set +f; rm -f $HOG/chunk.*; rc=$?; set -f; echo "held $(held)";;
    run) rest=\${line#*run}; sh -c "$rest" 2>&1; rc=$?;;
    *) echo "unknown command '$cmd' (ping, meminfo, alloc, free, run)"; rc=2;;
  esac
  echo "@@km $seq end $rc"
done
`;
