/**
 * The shim's set of sidecar sessions, kept in step with discovery: a socket that
 * appears gets a session, one that vanishes loses it, one that reappears with a new
 * inode (a restarted sidecar) gets a fresh session.
 */
import type { Logger } from '../common/log.js';
import { type FoundSocket, ShortPaths, SidecarDiscovery } from './discovery.js';
import { type SessionHooks, type SessionOptions, type SessionState, SidecarSession } from './session.js';

export interface RegistryObserver {
  onStateChange?(session: SidecarSession, from: SessionState, to: SessionState, why: string): void;
  onIdentityMismatch?(session: SidecarSession, claimedPodUid: string): void;
  onDeadlineMiss?(session: SidecarSession, call: 'Describe' | 'SetTarget'): void;
  onSample?(session: SidecarSession): void;
  onRemoved?(session: SidecarSession): void;
}

export interface RegistryOptions {
  kubeletRoot: string;
  rescanMs?: number;
  session: SessionOptions;
  /** Parent of the private symlink directory; default the OS temp dir. */
  linkParent?: string;
}

export class SidecarRegistry {
  private readonly sessions = new Map<string, SidecarSession>();
  private readonly discovery: SidecarDiscovery;
  private readonly shortPaths: ShortPaths;
  private readonly hooks: SessionHooks;
  /** Describe answers whose pod UID did not match the socket path. */
  identityMismatches = 0;

  constructor(
    private readonly options: RegistryOptions,
    private readonly log: Logger,
    private readonly observer: RegistryObserver = {},
  ) {
    this.shortPaths = new ShortPaths(options.linkParent);
    this.hooks = {
      onStateChange: (s, from, to, why) => {
        const level = to === 'stale' || to === 'refused' ? 'warn' : 'info';
        log[level]({ sidecar: s.id, socket: s.found.socketPath, from, to, why }, 'sidecar session state');
        observer.onStateChange?.(s, from, to, why);
      },
      onIdentityMismatch: (s, claimed) => {
        this.identityMismatches++;
        observer.onIdentityMismatch?.(s, claimed);
      },
      onDeadlineMiss: (s, call) => observer.onDeadlineMiss?.(s, call),
      onSample: (s) => observer.onSample?.(s),
    };
    this.discovery = new SidecarDiscovery(
      { kubeletRoot: options.kubeletRoot, ...(options.rescanMs !== undefined ? { rescanMs: options.rescanMs } : {}) },
      { onAppear: (found) => this.appear(found), onVanish: (socketPath) => this.vanish(socketPath, 'socket-vanished') },
    );
  }

  start(): void {
    this.discovery.start();
  }

  stop(): void {
    this.discovery.stop();
    for (const socketPath of [...this.sessions.keys()]) this.vanish(socketPath, 'shim-stopping');
    this.shortPaths.close();
  }

  /** Every session, whatever its state. */
  all(): SidecarSession[] {
    return [...this.sessions.values()];
  }

  /** Rescans the kubelet directory now (also done periodically). */
  rescan(): void {
    this.discovery.fullScan();
  }

  get symlinkDirectory(): string {
    return this.shortPaths.directory;
  }

  private appear(found: FoundSocket): void {
    const existing = this.sessions.get(found.socketPath);
    if (existing) this.vanish(found.socketPath, 'socket-replaced');
    let address: string;
    try {
      address = this.shortPaths.address(found.socketPath);
    } catch (error) {
      this.log.error({ socket: found.socketPath, err: (error as Error).message }, 'cannot make a connectable path for the sidecar socket');
      return;
    }
    const session = new SidecarSession(found, address, this.options.session, this.hooks, this.log);
    this.sessions.set(found.socketPath, session);
    this.log.info({ socket: found.socketPath, podUid: found.podUid, address }, 'sidecar socket found');
    session.start();
  }

  private vanish(socketPath: string, why: string): void {
    const session = this.sessions.get(socketPath);
    if (!session) return;
    this.sessions.delete(socketPath);
    session.close(why);
    this.shortPaths.release(socketPath);
    this.observer.onRemoved?.(session);
  }
}
