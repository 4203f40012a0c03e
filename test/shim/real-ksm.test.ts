/**
 * The KSM controller against this machine's real /sys/kernel/mm/ksm. Every control
 * is read before and written back after each test, whatever the controller did.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { logger } from '../../src/common/log.js';
import { KSM_CONTROLS, KsmController } from '../../src/shim/ksm.js';
import type { KsmControl } from '../../src/policy/types.js';

const KSM_DIR = '/sys/kernel/mm/ksm';

function readControl(name: string): number {
  return Number(readFileSync(path.join(KSM_DIR, name), 'utf8').trim());
}

describe('KSM controller on the real /sys/kernel/mm/ksm', function () {
  let saved: Record<string, number>;

  beforeEach(() => {
    saved = Object.fromEntries(KSM_CONTROLS.map((c) => [c, readControl(c)]));
  });
  afterEach(() => {
    for (const control of ['run', 'pages_to_scan', 'sleep_millisecs'] as const) {
      if (readControl(control) !== saved[control]) writeFileSync(path.join(KSM_DIR, control), String(saved[control]));
    }
    for (const control of KSM_CONTROLS) expect(readControl(control), `${control} restored`).to.equal(saved[control]);
  });

  it('writes only the values that differ from the live ones, and restores what it found on stop', () => {
    const writes: string[] = [];
    const ksm = new KsmController({ dir: KSM_DIR }, logger('test'), { onWrite: (file) => writes.push(file) });
    expect(ksm.available()).to.equal(true);
    ksm.start();
    const before = saved.pages_to_scan!;
    const first = ksm.apply({ pages_to_scan: before + 37, sleep_millisecs: saved.sleep_millisecs!, merge_across_nodes: saved.merge_across_nodes! }, 0);
    expect(first.written).to.deep.equal({ pages_to_scan: before + 37 });
    expect(readControl('pages_to_scan')).to.equal(before + 37);
    const second = ksm.apply({ pages_to_scan: before + 37, sleep_millisecs: saved.sleep_millisecs! }, 1000);
    expect(second.written).to.deep.equal({});
    expect(writes).to.deep.equal(['pages_to_scan']);
    // Non-integer values are truncated, as MOM's controller does.
    expect(ksm.apply({ sleep_millisecs: saved.sleep_millisecs! + 5.9 }, 2000).written).to.deep.equal({ sleep_millisecs: saved.sleep_millisecs! + 5 });
    const restored = ksm.stop();
    expect(restored).to.deep.equal({ sleep_millisecs: saved.sleep_millisecs, pages_to_scan: before });
    expect(readControl('pages_to_scan')).to.equal(before);
    expect(readControl('sleep_millisecs')).to.equal(saved.sleep_millisecs);
  });

  it('does not mistake the kernel updating its counters for another writer while KSM runs', async () => {
    const foreign: string[] = [];
    const ksm = new KsmController({ dir: KSM_DIR }, logger('test'), { onForeignWrite: (file) => foreign.push(file) });
    // A paused QEMU: its guest RAM is marked mergeable, so ksmd has pages to scan.
    const qemu = spawn('qemu-system-x86_64', ['-M', 'pc', '-m', '64', '-S', '-display', 'none', '-nodefaults', '-accel', 'tcg'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      ksm.start();
      ksm.apply({ run: 1, sleep_millisecs: 10, pages_to_scan: 1000 }, 0);
      const scannedBefore = ksm.read().pages_scanned ?? 0;
      await new Promise((r) => setTimeout(r, 600));
      // ksmd ran: its counters moved under us, and that is not another writer.
      expect(ksm.read().pages_scanned).to.be.greaterThan(scannedBefore);
    } finally {
      qemu.kill('SIGKILL');
    }
    const again = ksm.apply({ run: 1, sleep_millisecs: 10, pages_to_scan: 1000 }, 1000);
    expect(again.foreign).to.deep.equal([]);
    expect(again.written).to.deep.equal({});
    expect(foreign).to.deep.equal([]);
    expect(ksm.stop()).to.include({ run: saved.run });
    expect(readControl('run')).to.equal(saved.run);
  });

  it('detects a second writer, stops fighting for a back-off, and leaves its value on exit', () => {
    const foreign: Array<{ file: KsmControl; ours: number; found: number }> = [];
    const ksm = new KsmController({ dir: KSM_DIR, initialBackoffMs: 10_000 }, logger('test'), {
      onForeignWrite: (file, ours, found) => foreign.push({ file, ours, found }),
    });
    ksm.start();
    const ours = saved.pages_to_scan! + 11;
    ksm.apply({ pages_to_scan: ours }, 0);
    // The second writer (as KubeVirt's KSM handler would) sets its own value.
    const theirs = saved.pages_to_scan! + 222;
    writeFileSync(path.join(KSM_DIR, 'pages_to_scan'), String(theirs));
    const result = ksm.apply({ pages_to_scan: ours }, 1000);
    expect(result.foreign).to.deep.equal(['pages_to_scan']);
    expect(result.backingOff).to.equal(true);
    expect(result.written).to.deep.equal({});
    expect(foreign).to.deep.equal([{ file: 'pages_to_scan', ours, found: theirs }]);
    expect(readControl('pages_to_scan')).to.equal(theirs);
    // Still backing off later in the window: no writes at all.
    expect(ksm.apply({ pages_to_scan: ours, sleep_millisecs: saved.sleep_millisecs! + 1 }, 9000).written).to.deep.equal({});
    expect(readControl('pages_to_scan')).to.equal(theirs);
    // After the back-off it writes again; a second fight doubles the back-off.
    expect(ksm.apply({ pages_to_scan: ours }, 11_001).written).to.deep.equal({ pages_to_scan: ours });
    writeFileSync(path.join(KSM_DIR, 'pages_to_scan'), String(theirs));
    expect(ksm.apply({ pages_to_scan: ours }, 12_000).backingOff).to.equal(true);
    expect(ksm.backingOff(12_000 + 19_999)).to.equal(true);
    expect(ksm.backingOff(12_000 + 20_000)).to.equal(false);
    expect(ksm.foreignWrites).to.equal(2);
    // On exit the other writer's value stays: the control is theirs now.
    expect(ksm.stop()).to.deep.equal({});
    expect(readControl('pages_to_scan')).to.equal(theirs);
  });
  it("takes KubeVirt's single run=0 after a node stops matching as a handover, not a fight; a second one soon after is a fight", () => {
    const foreign: KsmControl[] = [];
    let handovers = 0;
    const ksm = new KsmController({ dir: KSM_DIR, initialBackoffMs: 10_000, handoverWindowMs: 60_000 }, logger('test'), {
      onForeignWrite: (file) => foreign.push(file),
      onHandover: () => handovers++,
    });
    ksm.start();
    const pages = saved.pages_to_scan! + 7;
    expect(ksm.apply({ run: 1, pages_to_scan: pages }, 0).written).to.deep.equal({ run: 1, pages_to_scan: pages });
    // virt-handler lets the node go: run=0, once, nothing else.
    writeFileSync(path.join(KSM_DIR, 'run'), '0');
    const after = ksm.apply({ run: 1, pages_to_scan: pages }, 1000);
    expect(after.handover).to.equal(true);
    expect(after.foreign).to.deep.equal([]);
    expect(after.backingOff).to.equal(false);
    expect(after.written).to.deep.equal({ run: 1 });
    expect(readControl('run')).to.equal(1);
    expect(handovers).to.equal(1);
    expect(foreign).to.deep.equal([]);
    // Another lone run=0 within the window is a writer that keeps switching KSM off: a fight.
    writeFileSync(path.join(KSM_DIR, 'run'), '0');
    const again = ksm.apply({ run: 1, pages_to_scan: pages }, 2000);
    expect(again.handover).to.equal(undefined);
    expect(again.foreign).to.deep.equal(['run']);
    expect(again.backingOff).to.equal(true);
    expect(readControl('run')).to.equal(0);
    expect(handovers).to.equal(1);
    ksm.stop();
  });

  it('a run=0 that comes with other changed controls is a fight, not a handover', () => {
    let handovers = 0;
    const ksm = new KsmController({ dir: KSM_DIR, initialBackoffMs: 10_000 }, logger('test'), { onHandover: () => handovers++ });
    ksm.start();
    const pages = saved.pages_to_scan! + 7;
    ksm.apply({ run: 1, pages_to_scan: pages }, 0);
    writeFileSync(path.join(KSM_DIR, 'pages_to_scan'), String(pages + 100));
    writeFileSync(path.join(KSM_DIR, 'run'), '0');
    const result = ksm.apply({ run: 1, pages_to_scan: pages }, 1000);
    expect(result.handover).to.equal(undefined);
    expect(result.foreign).to.have.members(['run', 'pages_to_scan']);
    expect(handovers).to.equal(0);
    ksm.stop();
  });
});
