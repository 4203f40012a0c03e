/** `kubemom demo --real`: the same demo node with real TCG guests from the test bed. */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import { runDemo, type DemoResult } from '../../src/demo/demo.js';
import { run } from '../../testbed/exec.js';

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

describe('kubemom demo --real (TCG guests)', function () {
  this.timeout(600_000);
  let result: DemoResult;
  let sink: Sink;

  before(async () => {
    sink = new Sink();
    result = await runDemo({ real: true, vms: 1, seconds: 20, policy: 'default' }, { out: sink, tty: false });
  });

  it('drives the real guest through the real shim and sidecar', () => {
    const r = result.report;
    expect(r.mode).to.equal('real');
    // Piped output: one line per balloon decision for the real guest.
    expect(sink.text).to.match(/\bballoon +vm-0\S* +([0-9]+ ->|to) [0-9]+ MiB /);
    expect(r.decisions.total, sink.text).to.be.greaterThan(0);
    expect(r.reclaimed.peakBytes).to.be.greaterThan(0);
    expect(r.guestOoms).to.equal(0);
  });

  it('leaves nothing behind: scratch directory and libvirt domains gone', async () => {
    expect(existsSync(result.root)).to.equal(false);
    const { stdout } = await run('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name']).catch(() => ({ stdout: '' }));
    expect(stdout).to.not.match(/demo_vm-0-/);
  });
});
