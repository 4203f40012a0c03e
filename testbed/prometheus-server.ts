/**
 * A real Prometheus server for tests and benches (Debian's `prometheus` package): its
 * TSDB is backfilled from an OpenMetrics file with `promtool tsdb create-blocks-from
 * openmetrics`, then it serves the HTTP API on a free loopback port, scraping nothing.
 * `stop()` ends the server and deletes its directory.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A loopback port nothing listens on at the time of the call. */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** `promtool` with its output; throws with promtool's own message on a non-zero exit. */
export async function promtool(args: string[], cwd?: string): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run('promtool', args, { cwd, maxBuffer: 64 * 2 ** 20 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`promtool ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`);
  }
}

export interface PrometheusServerOptions {
  /** Writes the OpenMetrics input (ending in `# EOF`) to this file. */
  writeOpenMetrics: (file: string) => Promise<void>;
  /** How long to wait for the server to be ready, ms. */
  readyTimeoutMs?: number;
}

export class PrometheusServer {
  private constructor(
    readonly url: string,
    readonly dir: string,
    private readonly child: ChildProcess,
    /** How long the backfill took, ms. */
    readonly backfillMs: number,
  ) {}

  /** Backfills a TSDB from the OpenMetrics input and starts Prometheus on it. */
  static async start(opts: PrometheusServerOptions): Promise<PrometheusServer> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kubemom-prometheus-'));
    try {
      const input = path.join(dir, 'input.om');
      await opts.writeOpenMetrics(input);
      const data = path.join(dir, 'data');
      const t0 = Date.now();
      await promtool(['tsdb', 'create-blocks-from', 'openmetrics', input, data]);
      const backfillMs = Date.now() - t0;
      await rm(input);
      const config = path.join(dir, 'prometheus.yml');
      await writeFile(config, 'global:\n  evaluation_interval: 1m\nscrape_configs: []\n');
      const port = await freeLoopbackPort();
      const child = spawn('prometheus', [
        `--config.file=${config}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${port}`,
        // Backfilled blocks may be older than the default 15 days; keep them.
        '--storage.tsdb.retention.time=100y', '--log.level=info',
      ], { stdio: ['ignore', 'ignore', 'pipe'] });
      const server = new PrometheusServer(`http://127.0.0.1:${port}`, dir, child, backfillMs);
      await server.ready(opts.readyTimeoutMs ?? 60_000);
      return server;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Resolves on Prometheus' own "ready" log line; rejects if it exits or the deadline passes. */
  private ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => done(new Error(`prometheus not ready within ${timeoutMs} ms:\n${log.slice(-2000)}`)), timeoutMs);
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('Server is ready to receive web requests')) done();
      };
      const onExit = (code: number | null) => done(new Error(`prometheus exited (${code}) before it was ready:\n${log.slice(-2000)}`));
      const onError = (err: Error) => done(new Error(`cannot start prometheus (Debian's prometheus package): ${err.message}`));
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.child.stderr!.off('data', onData);
        this.child.off('exit', onExit);
        this.child.off('error', onError);
        // Keep draining its log so the pipe never fills.
        this.child.stderr!.resume();
        if (err) {
          this.child.kill('SIGKILL');
          reject(err);
        } else resolve();
      };
      this.child.stderr!.on('data', onData);
      this.child.once('exit', onExit);
      this.child.once('error', onError);
    });
  }

  /** Resident memory of the server now, bytes (from /proc). */
  async residentBytes(): Promise<number> {
    const { readFile } = await import('node:fs/promises');
    const status = await readFile(`/proc/${this.child.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  }

  /** CPU time the server has used so far (user + system), seconds, from /proc. */
  async cpuSeconds(): Promise<number> {
    const { readFile } = await import('node:fs/promises');
    const stat = await readFile(`/proc/${this.child.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }

  /** Stops the server (SIGTERM, then SIGKILL after 20 s) and deletes its directory. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
