/**
 * QMP round trip: the client's `query-status` against a real QEMU, beside a raw-socket baseline
 * (write one line, wait for one line) in the same run and against the same QEMU. Prints the
 * ratio client/raw; the difference is the client's own cost (ids, timers, decoding, checks).
 *
 * Usage: node dist/bench/qmp-roundtrip.js [iterations per block, default 2000]
 */
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { QmpClient } from '../src/qmp/index.js';
import { QemuProcess } from '../testbed/qemu-process.js';

/** Latency summary in microseconds. */
export interface LatencyStats {
  readonly n: number;
  readonly medianUs: number;
  readonly p99Us: number;
  readonly meanUs: number;
}

export interface QmpRoundtripResult {
  readonly client: LatencyStats;
  readonly raw: LatencyStats;
  /** client median / raw median. */
  readonly medianRatio: number;
  /** client mean / raw mean. */
  readonly meanRatio: number;
}

function summarize(samplesNs: bigint[]): LatencyStats {
  const us = samplesNs.map((x) => Number(x) / 1000).sort((a, b) => a - b);
  const at = (q: number): number => us[Math.min(us.length - 1, Math.floor(q * us.length))] ?? NaN;
  return { n: us.length, medianUs: at(0.5), p99Us: at(0.99), meanUs: us.reduce((a, b) => a + b, 0) / us.length };
}

/** The baseline: a bare socket that writes a command line and waits for the next newline. */
async function rawBlock(socketPath: string, iterations: number, out: bigint[]): Promise<void> {
  const socket = net.createConnection({ path: socketPath });
  let buf = '';
  let waiter: ((line: string) => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiter;
      waiter = undefined;
      w?.(line);
    }
  });
  const nextLine = (): Promise<string> => new Promise((resolve) => (waiter = resolve));
  await nextLine(); // greeting
  socket.write('{"execute":"qmp_capabilities"}\n');
  await nextLine();
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    socket.write('{"execute":"query-status"}\n');
    await nextLine();
    out.push(process.hrtime.bigint() - t0);
  }
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.destroy();
  });
}

async function clientBlock(socketPath: string, iterations: number, out: bigint[]): Promise<void> {
  const client = new QmpClient({ socketPath, log: pino({ level: 'silent' }) });
  await client.connect();
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    await client.queryStatus();
    out.push(process.hrtime.bigint() - t0);
  }
  await client.close();
}

/** Runs alternating blocks (raw, client) so drift affects both sides alike. */
export async function benchQmpRoundtrip(iterations = 2000, blocks = 3): Promise<QmpRoundtripResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kubemom-bench-qmp-'));
  const socketPath = path.join(dir, 'qmp.sock');
  const qemu = await QemuProcess.start({ socketPath, profile: 'none' });
  try {
    // Warm-up: JIT and QEMU's first-use paths, not measured.
    await rawBlock(socketPath, 200, []);
    await clientBlock(socketPath, 200, []);
    const raw: bigint[] = [];
    const client: bigint[] = [];
    for (let b = 0; b < blocks; b++) {
      await rawBlock(socketPath, iterations, raw);
      await clientBlock(socketPath, iterations, client);
    }
    const r = summarize(raw);
    const c = summarize(client);
    return { client: c, raw: r, medianRatio: c.medianUs / r.medianUs, meanRatio: c.meanUs / r.meanUs };
  } finally {
    await qemu.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

function fmt(s: LatencyStats): string {
  return `median ${s.medianUs.toFixed(1)} us, p99 ${s.p99Us.toFixed(1)} us, mean ${s.meanUs.toFixed(1)} us (n=${s.n})`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const iterations = Number(process.argv[2] ?? 2000);
  const r = await benchQmpRoundtrip(iterations);
  process.stdout.write(
    `QMP query-status round trip against real QEMU (-machine none)\n` +
      `  raw socket baseline: ${fmt(r.raw)}\n` +
      `  QmpClient:           ${fmt(r.client)}\n` +
      `  ratio client/raw:    median ${r.medianRatio.toFixed(2)}x, mean ${r.meanRatio.toFixed(2)}x\n`,
  );
}
