import { expect } from 'chai';
import { findBalloonPath, isStale, parseGuestStats, withRates } from '../../src/agent/guest-stats.js';
import { phaseOf, runStateAfterEvent, trackPhase } from '../../src/agent/lifecycle.js';
import { podUidFromMountinfo } from '../../src/agent/pod-uid.js';

const UNSET = 18446744073709551615; // QEMU's uint64 -1 as JSON.parse reads it

function reply(lastUpdate: number, over: Record<string, number> = {}): unknown {
  return {
    'last-update': lastUpdate,
    stats: {
      'stat-swap-in': 0,
      'stat-swap-out': 0,
      'stat-major-faults': 10,
      'stat-minor-faults': 1000,
      'stat-free-memory': 300 * 2 ** 20,
      'stat-available-memory': 400 * 2 ** 20,
      'stat-total-memory': 480 * 2 ** 20,
      'stat-disk-caches': 50 * 2 ** 20,
      'stat-htlb-pgalloc': 0,
      'stat-htlb-pgfail': 0,
      ...over,
    },
  };
}

describe('agent guest stats', () => {
  it('reads a guest-stats reply into typed bytes and counts', () => {
    const s = parseGuestStats(reply(1000));
    expect(s).to.deep.equal({
      lastUpdateUnixSeconds: 1000,
      totalBytes: 480 * 2 ** 20,
      freeBytes: 300 * 2 ** 20,
      availableBytes: 400 * 2 ** 20,
      diskCachesBytes: 50 * 2 ** 20,
      swapInBytes: 0,
      swapOutBytes: 0,
      majorFaults: 10,
      minorFaults: 1000,
    });
  });

  it('has no sample before the guest driver reported (last-update 0, values -1)', () => {
    const unset = Object.fromEntries(['stat-total-memory', 'stat-available-memory', 'stat-free-memory'].map((k) => [k, UNSET]));
    expect(parseGuestStats(reply(0, unset))).to.equal(undefined);
    expect(parseGuestStats(reply(1000, { 'stat-available-memory': UNSET }))).to.equal(undefined);
    expect(parseGuestStats(null)).to.equal(undefined);
    expect(parseGuestStats({ stats: 'x', 'last-update': 5 })).to.equal(undefined);
  });

  it('reads a statistic an older guest driver does not send as 0', () => {
    expect(parseGuestStats(reply(1000, { 'stat-disk-caches': UNSET }))?.diskCachesBytes).to.equal(0);
  });

  it('computes rates over the guest report interval, 0 on the first report, from zero after a reboot', () => {
    const a = withRates(parseGuestStats(reply(1000))!, undefined);
    expect(a.majorFaultsPerSecond).to.equal(0);
    const b = withRates(parseGuestStats(reply(1005, { 'stat-major-faults': 510, 'stat-swap-in': 5 * 2 ** 20 }))!, a);
    expect(b.majorFaultsPerSecond).to.equal(100);
    expect(b.swapInBytesPerSecond).to.equal(2 ** 20);
    // The same report read twice keeps its rates rather than dropping to 0.
    expect(withRates(parseGuestStats(reply(1005, { 'stat-major-faults': 510, 'stat-swap-in': 5 * 2 ** 20 }))!, b).majorFaultsPerSecond).to.equal(100);
    // Counters going back: the guest rebooted and counted from zero since (3 faults in 5 s), as the policies count.
    expect(withRates(parseGuestStats(reply(1010, { 'stat-major-faults': 3 }))!, b).majorFaultsPerSecond).to.equal(0.6);
  });

  it('calls stats stale when last-update lags more than 3 periods', () => {
    expect(isStale(1000, 1000_000 + 5_000, 1)).to.equal(true);
    expect(isStale(1000, 1000_000 + 3_500, 1)).to.equal(false);
    expect(isStale(1000, 1000_000 + 15_500, 5)).to.equal(false);
    expect(isStale(1000, 1000_000 + 16_500, 5)).to.equal(true);
  });

  it('finds the balloon by its type, whatever it is called', () => {
    const entries = [
      { name: 'type', type: 'string' },
      { name: 'ua-virtio-serial0', type: 'child<virtio-serial-pci>' },
      { name: 'mymem', type: 'child<virtio-balloon-pci-non-transitional>' },
    ];
    expect(findBalloonPath(entries)).to.equal('/machine/peripheral/mymem');
    expect(findBalloonPath([{ name: 'balloon0', type: 'child<virtio-balloon-pci>' }])).to.equal('/machine/peripheral/balloon0');
    expect(findBalloonPath([{ name: 'balloon0', type: 'link<virtio-balloon-pci>' }])).to.equal(undefined);
    expect(findBalloonPath('nope')).to.equal(undefined);
  });
});

describe('agent lifecycle phases', () => {
  const base = { reachable: true, shutdownSeen: false, runState: 'running', driverReported: true };
  it('maps what QMP shows to a phase', () => {
    expect(phaseOf(base)).to.equal('running');
    expect(phaseOf({ ...base, driverReported: false })).to.equal('starting');
    expect(phaseOf({ ...base, runState: 'prelaunch' })).to.equal('starting');
    expect(phaseOf({ ...base, runState: 'paused' })).to.equal('paused');
    expect(phaseOf({ ...base, runState: 'suspended' })).to.equal('paused');
    expect(phaseOf({ ...base, runState: 'inmigrate' })).to.equal('migrating');
    expect(phaseOf({ ...base, runState: 'shutdown' })).to.equal('stopping');
    expect(phaseOf({ ...base, shutdownSeen: true })).to.equal('stopping');
    expect(phaseOf({ ...base, reachable: false })).to.equal('gone');
  });
  it('follows STOP, RESUME and SHUTDOWN events', () => {
    expect(runStateAfterEvent('STOP', 'running')).to.equal('paused');
    expect(runStateAfterEvent('RESUME', 'paused')).to.equal('running');
    expect(runStateAfterEvent('SHUTDOWN', 'running')).to.equal('shutdown');
    expect(runStateAfterEvent('BALLOON_CHANGE', 'running')).to.equal('running');
  });
  it('dates a phase change it sees from the moment it saw it, and keeps the date while the phase holds', () => {
    // A fresh VM: QEMU in prelaunch at the first look, then the guest driver reports.
    const starting = trackPhase(undefined, 'starting', 1_000, true);
    expect(starting).to.deep.equal({ phase: 'starting', sinceMs: 1_000, beganEarlier: true });
    const running = trackPhase(starting, 'running', 31_000, false);
    expect(running).to.deep.equal({ phase: 'running', sinceMs: 31_000, beganEarlier: false });
    expect(trackPhase(running, 'running', 500_000, false)).to.equal(running);
    // Paused and resumed: the resume is a change the agent saw.
    const paused = trackPhase(running, 'paused', 600_000, false);
    expect(trackPhase(paused, 'running', 605_000, false)).to.deep.equal({ phase: 'running', sinceMs: 605_000, beganEarlier: false });
  });
  it('marks a phase it finds on its first look (a restarted sidecar) as begun at or before that look', () => {
    // A restarted agent: nothing connected yet, then the first full look finds the guest running with stats.
    const gone = trackPhase(undefined, 'gone', 10_000, true);
    expect(gone.beganEarlier).to.equal(true);
    const found = trackPhase(gone, 'running', 10_200, true);
    expect(found).to.deep.equal({ phase: 'running', sinceMs: 10_200, beganEarlier: true });
    // Still running later: the record (and its "began earlier") stays; later changes are seen.
    expect(trackPhase(found, 'running', 90_000, false)).to.equal(found);
    expect(trackPhase(found, 'paused', 95_000, false)).to.deep.equal({ phase: 'paused', sinceMs: 95_000, beganEarlier: false });
  });
});

describe('agent pod UID from mountinfo', () => {
  const uid = '6f1c2b3a-1111-4222-8333-944455566677';
  const mountinfo = [
    '22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw',
    `1234 22 8:1 /var/lib/kubelet/pods/${uid}/volumes/kubernetes.io~empty-dir/hook-sidecar-sockets/hook-sidecar-0 /var/run/kubevirt-hooks rw,relatime - ext4 /dev/sda1 rw`,
    `1235 22 8:1 /var/lib/kubelet/pods/${uid}/etc-hosts /etc/hosts rw - ext4 /dev/sda1 rw`,
  ].join('\n');
  it('reads the UID from the mount the hook directory lives on', () => {
    expect(podUidFromMountinfo(mountinfo, '/var/run/kubevirt-hooks')).to.equal(uid);
    expect(podUidFromMountinfo(mountinfo, '/var/run/kubevirt-hooks/sub')).to.equal(uid);
  });
  it('handles a kubelet root on its own filesystem and escaped paths', () => {
    const line = `40 22 8:2 /lib/kubelet/pods/${uid}/volumes/kubernetes.io~empty-dir/with\\040space /hooks\\040dir rw - ext4 /dev/sda2 rw`;
    expect(podUidFromMountinfo(line, '/hooks dir')).to.equal(uid);
  });
  it('gives nothing outside a pod', () => {
    expect(podUidFromMountinfo(mountinfo, '/tmp/x')).to.equal(undefined);
  });
});
