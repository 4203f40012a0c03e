/**
 * A tiny guest boots under libvirt with the domain the sidecar rewrote, QEMU opens
 * the QMP side monitor where the sidecar asked, and the guest agent makes the guest
 * use and release memory on command.
 */
import { expect } from 'chai';
import { lstatSync } from 'node:fs';
import net from 'node:net';
import { sharedTestbed } from '../../testbed/testbed.js';
import { qmpSocketInDomain } from '../../src/kubevirt-sim/launcher.js';
import type { TestVm } from '../../testbed/test-vm.js';
import * as virsh from '../../testbed/virsh.js';
import type { GuestMeminfo } from '../../testbed/guest-console.js';

const MiB = 2 ** 20;
const used = (m: GuestMeminfo) => (m.MemTotal! - m.MemAvailable!) / MiB;

/** Reads QMP's greeting line from a raw connection, with a timeout (a busy monitor never greets). */
function readQmpGreeting(socketPath: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let text = '';
    const timer = setTimeout(() => finish(new Error(`no QMP greeting within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error: Error | undefined, value?: Record<string, unknown>) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value!);
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const newline = text.indexOf('\n');
      if (newline >= 0) finish(undefined, JSON.parse(text.slice(0, newline)) as Record<string, unknown>);
    });
    socket.on('error', (error) => finish(error));
  });
}

describe('a tiny guest under libvirt with the sidecar-rewritten domain', function () {
  let vm: TestVm;

  before(async function () {
    this.timeout(600_000);
    const bed = await sharedTestbed();
    vm = await bed.startVm({ name: 'tiny', memoryMiB: 512 });
  });

  after(async () => vm?.destroy());

  it('runs the domain the sidecar returned, with its QMP side monitor and balloon', async () => {
    expect(await virsh.domainState(vm.domainName)).to.equal('running');
    // libvirt writes attributes in single quotes.
    const live = (await virsh.dumpXml(vm.domainName)).replace(/'/g, '"');
    expect(qmpSocketInDomain(vm.domainXml)).to.equal(vm.qmpSocketPath);
    expect(qmpSocketInDomain(live)).to.equal(vm.qmpSocketPath);
    expect(live).to.match(/<memballoon model="virtio-non-transitional" autodeflate="on" freePageReporting="on">/);
  });

  it('QEMU creates the QMP socket where the sidecar injected it, and greets on it', async () => {
    expect(lstatSync(vm.qmpSocketPath).isSocket()).to.equal(true);
    const greeting = (await readQmpGreeting(vm.qmpSocketPath)) as { QMP?: { version?: { qemu?: { major?: number } }; capabilities?: unknown } };
    expect(greeting.QMP?.version?.qemu?.major).to.be.a('number');
    expect(greeting.QMP?.capabilities).to.be.an('array');
  });

  it("loads the guest's balloon driver", async () => {
    expect(await vm.console.run('ls -1 /sys/bus/virtio/drivers')).to.include('virtio_balloon');
  });

  it("answers meminfo with the guest's /proc/meminfo", async () => {
    const meminfo = await vm.console.meminfo();
    // MemTotal is the guest memory less what the kernel reserves for itself.
    expect(meminfo.MemTotal! / MiB).to.be.within(400, 512);
    expect(meminfo.MemAvailable! / MiB).to.be.within(300, 512);
  });

  it('alloc raises used memory by what it holds and free lowers it again', async () => {
    const before = used(await vm.console.meminfo());
    expect(await vm.console.alloc(200)).to.equal(200);
    const during = used(await vm.console.meminfo());
    expect(during - before).to.be.within(190, 230);
    expect(await vm.console.free()).to.equal(0);
    const after = used(await vm.console.meminfo());
    expect(during - after).to.be.within(190, 230);
  });

  it('reports a failed guest command with its status and output', async () => {
    const reply = await vm.console.send('alloc lots');
    expect(reply.status).to.equal(2);
    expect(reply.lines.join('\n')).to.include('whole MiB');
  });
});
