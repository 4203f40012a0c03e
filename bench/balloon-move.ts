/**
 * How long a balloon move takes on a real TCG guest: SetTarget (kubemom.v1 gRPC,
 * through the guard) until QEMU's `actual` reaches the target, inflate and deflate,
 * beside the same moves made with QEMU's own `balloon` command on the same guest in
 * the same run (the baseline), and the bare `balloon` round trip.
 *
 *   node dist/bench/balloon-move.js [--rounds N]
 *
 * Prints figures and ratios; asserts nothing.
 */
import { AgentClient } from '../src/api/client.js';
import { AgentService } from '../src/agent/service.js';
import { QmpClient } from '../src/qmp/index.js';
import { Testbed } from '../testbed/testbed.js';

const MiB = 2 ** 20;
const POLL_MS = 10;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function row(name: string, xs: number[], baseline?: number[]): string {
  const ratio = baseline ? `  x${(median(xs) / median(baseline)).toFixed(2)} vs QEMU` : '';
  return `${name.padEnd(60)} median ${median(xs).toFixed(1).padStart(8)} ms   max ${Math.max(...xs).toFixed(1).padStart(8)} ms${ratio}`;
}

async function until(read: () => number | undefined, target: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (read() !== target) {
    if (Date.now() > deadline) throw new Error(`actual did not reach ${target} within ${timeoutMs} ms (at ${read()})`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export async function runBalloonMoveBench(rounds = 5): Promise<void> {
  const bed = await Testbed.setup();
  // The agent polls query-balloon every POLL_MS while a move is under way, so its view of
  // `actual` is as fresh as the baseline's.
  const service = new AgentService({ podUid: '00000000-0000-4000-8000-000000000000', timings: { followIntervalMs: POLL_MS } });
  const vm = await bed.startVm({
    name: 'bench-balloon',
    memoryMiB: 512,
    requestMiB: 128,
    annotations: { 'kubemom.io/stats-period': '1', 'kubemom.io/autodeflate': 'false' },
    sidecar: { services: [service.service], onVmConfig: (c) => service.onVmConfig(c), onStop: () => service.stop() },
  });
  try {
    const client = new AgentClient(vm.sidecar.server.socketPath);
    const agent = (): NonNullable<AgentService['vmAgent']> => service.vmAgent!;
    while (agent().latest?.phase !== 'running') await new Promise((r) => setTimeout(r, 200));
    const moves: { name: string; from: number; to: number }[] = [
      { name: 'inflate 512 -> 384 MiB (one guard step)', from: 512 * MiB, to: 384 * MiB },
      { name: 'deflate 384 -> 512 MiB', from: 384 * MiB, to: 512 * MiB },
      { name: 'inflate 512 -> 256 MiB (two guard steps)', from: 512 * MiB, to: 256 * MiB },
      { name: 'deflate 256 -> 512 MiB', from: 256 * MiB, to: 512 * MiB },
    ];
    const viaAgent = new Map<string, number[]>(moves.map((m) => [m.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const move of moves) {
        // Start each move from a settled guest: a fresh report with the balloon at `from`.
        await until(() => agent().actualBytes, move.from);
        const after = Math.floor(Date.now() / 1000) + 1;
        while ((agent().latest?.guest?.lastUpdateUnixSeconds ?? 0) < after) await new Promise((r) => setTimeout(r, 50));
        const t0 = performance.now();
        await client.setTarget({ target_bytes: move.to, reason: 'bench' });
        await until(() => agent().actualBytes, move.to);
        viaAgent.get(move.name)!.push(performance.now() - t0);
      }
    }
    client.close();
    // The baseline needs the monitor: QEMU serves one QMP client at a time.
    await service.stop();

    const qmp = new QmpClient({ socketPath: vm.qmpSocketPath, commandTimeoutMs: 5000 });
    await qmp.connect();
    const direct = new Map<string, number[]>(moves.map((m) => [m.name, []]));
    const roundTrips: number[] = [];
    let actual = (await qmp.queryBalloon()).actual;
    const readActual = (): number => actual;
    const poller = setInterval(() => {
      qmp.queryBalloon().then((b) => (actual = b.actual), () => undefined);
    }, POLL_MS);
    try {
      for (let round = 0; round < rounds; round++) {
        for (const move of moves) {
          await until(readActual, move.from);
          await new Promise((r) => setTimeout(r, 1000));
          const t0 = performance.now();
          await qmp.balloon(move.to);
          roundTrips.push(performance.now() - t0);
          await until(readActual, move.to);
          direct.get(move.name)!.push(performance.now() - t0);
        }
      }
    } finally {
      clearInterval(poller);
      await qmp.close();
    }

    console.log(`# balloon-move: ${rounds} rounds on a 512 MiB TCG guest, stats period 1 s, actual polled every ${POLL_MS} ms`);
    console.log(row('QEMU `balloon` command round trip', roundTrips));
    for (const move of moves) {
      console.log(row(`QEMU balloon: ${move.name}`, direct.get(move.name)!));
      console.log(row(`agent SetTarget: ${move.name}`, viaAgent.get(move.name)!, direct.get(move.name)!));
    }
  } finally {
    await vm.destroy();
    await bed.teardown();
  }
}

const roundsFlag = process.argv.indexOf('--rounds');
if (import.meta.url === `file://${process.argv[1]}`) {
  await runBalloonMoveBench(roundsFlag > 0 ? Number(process.argv[roundsFlag + 1]) : 5);
  process.exit(0);
}
