import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LowMemoryWatch, lowMemoryLine } from '../../src/shim/host/low-memory-watch.js';

const GiB = 2 ** 30;

/** A meminfo file in the kernel's format, for a node the test controls. */
function writeMeminfo(file: string, totalBytes: number, availableBytes: number): void {
  const kb = (b: number) => `${Math.round(b / 1024)} kB`;
  writeFileSync(file, [`MemTotal: ${kb(totalBytes)}`, `MemFree: ${kb(availableBytes / 2)}`, `MemAvailable: ${kb(availableBytes)}`, 'Buffers: 0 kB', 'Cached: 0 kB', 'AnonPages: 0 kB', 'SwapTotal: 0 kB', 'SwapFree: 0 kB', ''].join('\n'));
}

describe('low-memory watch (wakes the loop between periods)', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'km-lowmem-'));
    file = path.join(dir, 'meminfo');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("puts the line where the default policy starts to reclaim: hard threshold + reserve + band", () => {
    expect(lowMemoryLine(16 * GiB, { kind: 'bytes', bytes: 100 * 2 ** 20 })).to.equal(100 * 2 ** 20 + 0.05 * 16 * GiB + 0.03 * 16 * GiB);
    expect(lowMemoryLine(4 * GiB, undefined)).to.equal(512 * 2 ** 20 + 0.03 * 4 * GiB);
  });

  it('fires when MemAvailable crosses under the line, repeats at most once a second while low, re-arms above it', () => {
    let now = 0;
    const watch = new LowMemoryWatch({ meminfoFile: file, now: () => now });
    const wakes: number[] = [];
    watch.on('low', () => wakes.push(now));
    writeMeminfo(file, 16 * GiB, 8 * GiB);
    watch.check();
    expect(wakes).to.deep.equal([]);
    writeMeminfo(file, 16 * GiB, 1 * GiB);
    for (now = 100; now <= 1500; now += 100) watch.check();
    expect(wakes).to.deep.equal([100, 1100]);
    writeMeminfo(file, 16 * GiB, 8 * GiB);
    now = 1600;
    watch.check();
    writeMeminfo(file, 16 * GiB, 1 * GiB);
    now = 1700;
    watch.check();
    expect(wakes).to.deep.equal([100, 1100, 1700]);
  });

  it('counts an unreadable meminfo instead of throwing', () => {
    const watch = new LowMemoryWatch({ meminfoFile: path.join(dir, 'missing') });
    watch.check();
    expect(watch.readErrors).to.equal(1);
  });
});
