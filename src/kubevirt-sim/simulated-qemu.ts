/**
 * A simulated QEMU: a real QMP server on a unix socket whose guest is a model.
 *
 * It speaks the subset of QMP the KubeMom agent uses, with QEMU's observable
 * behaviour (greeting, capabilities negotiation, one client at a time, command ids,
 * STOP/RESUME/SHUTDOWN/BALLOON_CHANGE events) so the real agent runs unchanged
 * against it. The demo and scale tests use it where real TCG guests would be too
 * heavy; tests of the agent itself use real QEMU.
 */
import net from 'node:net';
import { unlinkSync } from 'node:fs';

/** The guest behind the monitor. Times are Unix ms; sizes bytes. */
export interface SimulatedGuestModel {
  /** Memory the guest has now (balloon `actual`). */
  actualBytes(nowMs: number): number;
  /** Ask the balloon driver for a new size; it gets there at the model's pace. */
  setBalloonTarget(bytes: number, nowMs: number): void;
  /** Balloon driver stats as QEMU reports them (`stat-*` keys), or undefined before the driver is up. */
  guestStats(nowMs: number): Record<string, number> | undefined;
}

/** A guest that holds `usedBytes` and moves its balloon at fixed rates (bytes per second). */
export class ConstantGuestModel implements SimulatedGuestModel {
  private current: number;
  private target: number;
  private lastMs: number;
  constructor(
    readonly memoryBytes: number,
    public usedBytes: number,
    readonly startMs: number,
    readonly inflateBytesPerSecond = 400 * 2 ** 20,
    readonly deflateBytesPerSecond = 1280 * 2 ** 20,
  ) {
    this.current = memoryBytes;
    this.target = memoryBytes;
    this.lastMs = startMs;
  }
  private advance(nowMs: number): void {
    const seconds = Math.max(0, nowMs - this.lastMs) / 1000;
    this.lastMs = Math.max(this.lastMs, nowMs);
    if (this.current > this.target) this.current = Math.max(this.target, this.current - this.inflateBytesPerSecond * seconds);
    else if (this.current < this.target) this.current = Math.min(this.target, this.current + this.deflateBytesPerSecond * seconds);
  }
  actualBytes(nowMs: number): number {
    this.advance(nowMs);
    return Math.round(this.current);
  }
  setBalloonTarget(bytes: number, nowMs: number): void {
    this.advance(nowMs);
    this.target = Math.min(this.memoryBytes, Math.max(0, bytes));
  }
  guestStats(nowMs: number): Record<string, number> {
    const total = this.actualBytes(nowMs);
    const free = Math.max(0, total - this.usedBytes);
    return {
      'stat-total-memory': total,
      'stat-free-memory': free,
      'stat-available-memory': free,
      'stat-disk-caches': 0,
      'stat-swap-in': 0,
      'stat-swap-out': 0,
      'stat-major-faults': 0,
      'stat-minor-faults': 0,
      'stat-htlb-pgalloc': 0,
      'stat-htlb-pgfail': 0,
    };
  }
}

interface QmpCommand {
  execute?: unknown;
  arguments?: Record<string, unknown>;
  id?: unknown;
}

export const SIMULATED_BALLOON_PATH = '/machine/peripheral/balloon0';

/** QMP's throttle fields; block_set_io_throttle requires the first six. */
const THROTTLE_REQUIRED = ['bps', 'bps_rd', 'bps_wr', 'iops', 'iops_rd', 'iops_wr'] as const;
const THROTTLE_OPTIONAL = [
  'bps_max', 'bps_rd_max', 'bps_wr_max', 'iops_max', 'iops_rd_max', 'iops_wr_max',
  'bps_max_length', 'bps_rd_max_length', 'bps_wr_max_length', 'iops_max_length', 'iops_rd_max_length', 'iops_wr_max_length',
  'iops_size',
] as const;

/** A disk of the simulated guest: a medium behind a guest device with this qdev id (libvirt's `ua-<disk>` alias). */
export interface SimulatedDisk {
  id: string;
}

export class SimulatedQemu {
  private server: net.Server;
  private active: net.Socket | undefined;
  private readonly waiting: net.Socket[] = [];
  private paused = false;
  private pollingIntervalSeconds = 0;
  private lastStatsUpdateSeconds = 0;
  /** Each disk's throttle values, by qdev id (all zero: unthrottled, as QEMU starts). */
  private readonly throttles = new Map<string, Record<string, number>>();

  constructor(
    readonly socketPath: string,
    readonly guest: SimulatedGuestModel,
    private readonly clock: () => number = Date.now,
    /** The domain's disks, answered in query-block and throttled by block_set_io_throttle. */
    disks: readonly SimulatedDisk[] = [],
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
    for (const disk of disks) this.throttles.set(disk.id, Object.fromEntries([...THROTTLE_REQUIRED, ...THROTTLE_OPTIONAL].map((k) => [k, 0])));
  }

  /** A disk's current throttle values (QMP names), or undefined for no such disk. */
  throttleOf(id: string): Readonly<Record<string, number>> | undefined {
    return this.throttles.get(id);
  }

  async start(): Promise<void> {
    try {
      unlinkSync(this.socketPath);
    } catch {
      // No stale socket.
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => resolve());
    });
  }

  async stop(): Promise<void> {
    this.emit('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
    // As QEMU quits: the event goes out, then the connection closes (flushed, not reset).
    const sockets = [this.active, ...this.waiting].filter((s): s is net.Socket => s !== undefined && !s.destroyed);
    const closed = Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()))));
    for (const socket of sockets) socket.end();
    const timer = setTimeout(() => sockets.forEach((socket) => socket.destroy()), 1000);
    await closed;
    clearTimeout(timer);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Pauses or resumes the simulated guest (STOP/RESUME events). */
  setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    this.emit(paused ? 'STOP' : 'RESUME', undefined);
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      const index = this.waiting.indexOf(socket);
      if (index >= 0) this.waiting.splice(index, 1);
      if (this.active === socket) {
        this.active = undefined;
        // Like QEMU: the next waiting client gets its greeting only now.
        const next = this.waiting.shift();
        if (next) this.greet(next);
      }
    });
    if (this.active) this.waiting.push(socket);
    else this.greet(socket);
  }

  private greet(socket: net.Socket): void {
    this.active = socket;
    let negotiated = false;
    let buffer = '';
    const send = (message: object) => socket.write(`${JSON.stringify(message)}\r\n`);
    send({ QMP: { version: { qemu: { micro: 0, minor: 2, major: 7 }, package: 'kubemom-simulated' }, capabilities: ['oob'] } });
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      if (buffer.length > 1 << 20) return socket.destroy();
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
        if (!line) continue;
        let command: QmpCommand;
        try {
          command = JSON.parse(line) as QmpCommand;
        } catch {
          send({ error: { class: 'GenericError', desc: 'JSON parse error' } });
          continue;
        }
        const withId = (reply: Record<string, unknown>) => send(command.id === undefined ? reply : { ...reply, id: command.id });
        if (command.execute === 'qmp_capabilities') {
          negotiated = true;
          withId({ return: {} });
        } else if (!negotiated) {
          withId({ error: { class: 'CommandNotFound', desc: "Expecting capabilities negotiation with 'qmp_capabilities'" } });
        } else {
          withId(this.execute(String(command.execute), command.arguments ?? {}));
        }
      }
    });
  }

  private execute(name: string, args: Record<string, unknown>): Record<string, unknown> {
    const now = this.clock();
    switch (name) {
      case 'query-status':
        return { return: { status: this.paused ? 'paused' : 'running', singlestep: false, running: !this.paused } };
      case 'query-balloon':
        return { return: { actual: this.guest.actualBytes(now) } };
      case 'balloon': {
        const value = args.value;
        if (typeof value !== 'number' || value <= 0) return { error: { class: 'GenericError', desc: "Parameter 'value' expects a positive size" } };
        this.guest.setBalloonTarget(value, now);
        setTimeout(() => this.emit('BALLOON_CHANGE', { actual: this.guest.actualBytes(this.clock()) }), 1000).unref();
        return { return: {} };
      }
      case 'qom-list':
        if (args.path === '/machine/peripheral') return { return: [{ name: 'type', type: 'string' }, { name: 'balloon0', type: 'child<virtio-balloon-pci-non-transitional>' }] };
        return { error: { class: 'DeviceNotFound', desc: `Device '${String(args.path)}' not found` } };
      case 'qom-get': {
        if (args.path !== SIMULATED_BALLOON_PATH) return { error: { class: 'DeviceNotFound', desc: `Device '${String(args.path)}' not found` } };
        if (args.property === 'guest-stats-polling-interval') return { return: this.pollingIntervalSeconds };
        if (args.property !== 'guest-stats') return { error: { class: 'GenericError', desc: `Property '${String(args.property)}' not found` } };
        const stats = this.guest.guestStats(now);
        if (stats && this.pollingIntervalSeconds > 0) this.lastStatsUpdateSeconds = Math.floor(now / 1000);
        return { return: { stats: stats ?? {}, 'last-update': stats ? this.lastStatsUpdateSeconds : 0 } };
      }
      case 'qom-set':
        if (args.path === SIMULATED_BALLOON_PATH && args.property === 'guest-stats-polling-interval' && typeof args.value === 'number') {
          this.pollingIntervalSeconds = args.value;
          return { return: {} };
        }
        return { error: { class: 'GenericError', desc: 'Property not writable' } };
      case 'query-block':
        // As QEMU under libvirt's -blockdev: no legacy drive name, the device's QOM path as qdev.
        return {
          return: [...this.throttles].map(([id, throttle]) => ({
            device: '',
            qdev: `/machine/peripheral/${id}/virtio-backend`,
            locked: false,
            removable: false,
            inserted: { 'node-name': `libvirt-${id}-format`, drv: 'raw', ro: false, ...throttle },
          })),
        };
      case 'block_set_io_throttle': {
        const id = typeof args.id === 'string' ? args.id.replace(/^\/machine\/peripheral\//, '').replace(/\/virtio-backend$/, '') : undefined;
        const throttle = id === undefined ? undefined : this.throttles.get(id);
        if (!throttle) return { error: { class: 'DeviceNotFound', desc: `Device '${String(args.id ?? args.device)}' not found` } };
        const missing = THROTTLE_REQUIRED.find((k) => typeof args[k] !== 'number');
        if (missing) return { error: { class: 'GenericError', desc: `Parameter '${missing}' is missing` } };
        for (const k of [...THROTTLE_REQUIRED, ...THROTTLE_OPTIONAL]) throttle[k] = typeof args[k] === 'number' ? (args[k] as number) : 0;
        return { return: {} };
      }
      default:
        return { error: { class: 'CommandNotFound', desc: `The command ${name} has not been found` } };
    }
  }

  private emit(event: string, data: unknown): void {
    if (!this.active) return;
    const now = this.clock();
    const message: Record<string, unknown> = { event, timestamp: { seconds: Math.floor(now / 1000), microseconds: (now % 1000) * 1000 } };
    if (data !== undefined) message.data = data;
    this.active.write(`${JSON.stringify(message)}\r\n`);
  }
}
