/**
 * The pods of this node, from the Kubernetes API: a list with `fieldSelector=spec.nodeName=<node>`, then a
 * watch from the list's resourceVersion (bookmarks asked for, so a quiet node's resourceVersion stays fresh).
 * The watch's normal end (its timeout) resumes from the last resourceVersion; a dropped connection or an API
 * error does too after a back-off; a 410 Gone (the resourceVersion was compacted away) lists again.
 *
 * For each pod it keeps what the shim needs: UID, namespace and name, the KubeVirt labels and annotation that
 * say which VMI a virt-launcher pod runs, and the memory requests and limits of its containers.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../common/log.js';
import { parseMemoryQuantity } from '../../common/quantity.js';
import { type KubeApiClient, KubeApiError } from './api-client.js';

export interface PodFacts {
  uid: string;
  namespace: string;
  name: string;
  nodeName?: string;
  phase?: string;
  /** Labels under kubevirt.io/ and vm.kubevirt.io/ (kubevirt.io/created-by is the VMI's UID). */
  kubevirtLabels: Record<string, string>;
  /** The VMI's UID (label kubevirt.io/created-by), when a virt-launcher pod. */
  vmiUid?: string;
  /** The VMI's name (annotation kubevirt.io/domain, else label vm.kubevirt.io/name). */
  vmiName?: string;
  /** The memory request of the `compute` container (the VM's: guest request + KubeVirt's overhead). */
  computeMemoryRequestBytes?: number;
  /** The sum of every container's memory request. */
  podMemoryRequestBytes?: number;
  /** Containers whose memory request or limit did not parse (named in the log). */
  badQuantities: string[];
}

/** The facts of one pod object from the API; undefined when it lacks a UID, namespace or name. Pure. */
export function podFacts(object: unknown): PodFacts | undefined {
  const pod = object as {
    metadata?: { uid?: unknown; namespace?: unknown; name?: unknown; labels?: Record<string, unknown>; annotations?: Record<string, unknown> };
    spec?: { nodeName?: unknown; containers?: Array<{ name?: unknown; resources?: { requests?: Record<string, unknown> } }> };
    status?: { phase?: unknown };
  };
  const m = pod?.metadata;
  if (typeof m?.uid !== 'string' || typeof m.namespace !== 'string' || typeof m.name !== 'string') return undefined;
  const facts: PodFacts = { uid: m.uid, namespace: m.namespace, name: m.name, kubevirtLabels: {}, badQuantities: [] };
  if (typeof pod.spec?.nodeName === 'string') facts.nodeName = pod.spec.nodeName;
  if (typeof pod.status?.phase === 'string') facts.phase = pod.status.phase;
  for (const [k, v] of Object.entries(m.labels ?? {})) {
    if (typeof v === 'string' && (k.startsWith('kubevirt.io/') || k.startsWith('vm.kubevirt.io/') || k === 'kubevirt.io')) facts.kubevirtLabels[k] = v;
  }
  const createdBy = facts.kubevirtLabels['kubevirt.io/created-by'];
  if (createdBy) facts.vmiUid = createdBy;
  const domain = m.annotations?.['kubevirt.io/domain'];
  const vmiName = typeof domain === 'string' ? domain : facts.kubevirtLabels['vm.kubevirt.io/name'];
  if (vmiName) facts.vmiName = vmiName;
  let total: number | undefined;
  for (const c of Array.isArray(pod.spec?.containers) ? pod.spec.containers : []) {
    const text = c?.resources?.requests?.['memory'];
    if (text === undefined) continue;
    const parsed = parseMemoryQuantity(String(text));
    if ('error' in parsed) {
      facts.badQuantities.push(`${String(c.name)}: ${parsed.error}`);
      continue;
    }
    total = (total ?? 0) + parsed.value;
    if (c.name === 'compute') facts.computeMemoryRequestBytes = parsed.value;
  }
  if (total !== undefined) facts.podMemoryRequestBytes = total;
  return facts;
}

export interface PodWatchOptions {
  nodeName: string;
  /** The server ends each watch after this long (timeoutSeconds); default 300 s. */
  watchTimeoutSeconds?: number;
  /** Back-off after a failure, doubling to the maximum; defaults 1 s and 30 s. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export type PodWatchProblem = 'list-error' | 'watch-error' | 'dropped' | 'gone' | 'bad-event';

export interface PodWatchObserver {
  onProblem?(problem: PodWatchProblem): void;
  onList?(pods: number): void;
}

/**
 * Emits `synced` after each successful list, `change` (facts or undefined, uid) on every pod change. `pods`
 * holds this node's pods; `synced` is true once a list succeeded.
 */
export class PodWatch extends EventEmitter {
  readonly pods = new Map<string, PodFacts>();
  synced = false;
  resourceVersion: string | undefined;
  /** Lists done (the first and every relist). */
  lists = 0;
  private running = false;
  private current: { stop(): void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private lastProblem: string | undefined;

  constructor(
    private readonly api: KubeApiClient,
    private readonly options: PodWatchOptions,
    private readonly log: Logger,
    private readonly observer: PodWatchObserver = {},
  ) {
    super();
    this.backoffMs = options.initialBackoffMs ?? 1000;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.list();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.current?.stop();
    this.current = undefined;
  }

  get(uid: string): PodFacts | undefined {
    return this.pods.get(uid);
  }

  private selector(): string {
    return `fieldSelector=${encodeURIComponent(`spec.nodeName=${this.options.nodeName}`)}`;
  }

  private async list(): Promise<void> {
    if (!this.running) return;
    try {
      const list = await this.api.getJson<{ metadata?: { resourceVersion?: unknown }; items?: unknown[] }>(`/api/v1/pods?${this.selector()}`);
      if (!this.running) return;
      const rv = list.metadata?.resourceVersion;
      if (typeof rv !== 'string' || !Array.isArray(list.items)) throw new KubeApiError(0, 'the pod list has no resourceVersion or items');
      const fresh = new Map<string, PodFacts>();
      for (const item of list.items) {
        const facts = this.facts(item);
        if (facts) fresh.set(facts.uid, facts);
      }
      for (const uid of this.pods.keys()) if (!fresh.has(uid)) this.emit('change', undefined, uid);
      this.pods.clear();
      for (const [uid, f] of fresh) {
        this.pods.set(uid, f);
        this.emit('change', f, uid);
      }
      this.resourceVersion = rv;
      this.synced = true;
      this.lists++;
      this.observer.onList?.(this.pods.size);
      this.recovered();
      this.emit('synced');
      this.watch();
    } catch (error) {
      this.problem('list-error', error as Error);
      this.retry(() => void this.list());
    }
  }

  private watch(): void {
    if (!this.running) return;
    const timeout = this.options.watchTimeoutSeconds ?? 300;
    const query = `/api/v1/pods?${this.selector()}&watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(this.resourceVersion ?? '')}&timeoutSeconds=${timeout}`;
    let gone = false;
    const w = this.api.watch(
      query,
      (event) => {
        if (gone) return;
        const e = event as { type?: unknown; object?: { kind?: unknown; code?: unknown; metadata?: { resourceVersion?: unknown } } };
        const rv = e.object?.metadata?.resourceVersion;
        switch (e.type) {
          case 'ADDED':
          case 'MODIFIED': {
            const facts = this.facts(e.object);
            if (!facts) return this.problem('bad-event', new Error(`a ${String(e.type)} event without a pod UID, namespace or name`));
            this.pods.set(facts.uid, facts);
            this.emit('change', facts, facts.uid);
            break;
          }
          case 'DELETED': {
            const facts = podFacts(e.object);
            if (facts && this.pods.delete(facts.uid)) this.emit('change', undefined, facts.uid);
            break;
          }
          case 'BOOKMARK':
            break;
          case 'ERROR': {
            // 410 Gone: the resourceVersion was compacted away; anything else: start over too.
            gone = true;
            const code = e.object?.code;
            this.problem(code === 410 ? 'gone' : 'watch-error', new Error(`the watch sent an ERROR event (code ${String(code)})`));
            this.resourceVersion = undefined;
            w.stop();
            return;
          }
          default:
            return this.problem('bad-event', new Error(`an event of unknown type ${String(e.type)}`));
        }
        if (typeof rv === 'string') this.resourceVersion = rv;
      },
      (timeout + 30) * 1000,
    );
    this.current = w;
    w.done.then(
      () => {
        if (!this.running) return;
        if (gone || this.resourceVersion === undefined) this.retry(() => void this.list(), gone ? 0 : undefined);
        else this.watch();
      },
      (error: Error) => {
        if (!this.running) return;
        const status = error instanceof KubeApiError ? error.status : 0;
        if (status === 410) {
          this.problem('gone', error);
          this.resourceVersion = undefined;
          this.retry(() => void this.list(), 0);
          return;
        }
        this.problem(status === 0 ? 'dropped' : 'watch-error', error);
        this.retry(() => this.watch());
      },
    );
  }

  private facts(object: unknown): PodFacts | undefined {
    const facts = podFacts(object);
    if (facts && facts.badQuantities.length > 0) {
      this.log.warn({ pod: `${facts.namespace}/${facts.name}`, problems: facts.badQuantities }, 'a pod has memory quantities that do not parse; they are left out');
    }
    return facts;
  }

  private retry(then: () => void, delayMs?: number): void {
    if (!this.running) return;
    const wait = delayMs ?? this.backoffMs;
    if (delayMs === undefined) this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 30_000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      then();
    }, wait);
    this.timer.unref();
  }

  private problem(kind: PodWatchProblem, error: Error): void {
    this.observer.onProblem?.(kind);
    const key = `${kind}: ${error.message}`;
    // Every relist after a 410 is routine; other problems are logged once until things work again.
    if (kind === 'gone') this.log.info({ node: this.options.nodeName }, 'pod watch: resourceVersion expired (410 Gone); listing again');
    else if (this.lastProblem !== key) this.log.warn({ node: this.options.nodeName, problem: kind, err: error.message }, 'pod watch: Kubernetes API problem; retrying');
    this.lastProblem = key;
  }

  private recovered(): void {
    if (this.lastProblem !== undefined && !this.lastProblem.startsWith('gone')) this.log.info({ node: this.options.nodeName }, 'pod watch: Kubernetes API usable again');
    this.lastProblem = undefined;
    this.backoffMs = this.options.initialBackoffMs ?? 1000;
  }
}
