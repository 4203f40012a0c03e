/**
 * A FAKE Kubernetes API server (the real one cannot run here): a real HTTP server on loopback that serves what
 * the shim's pod watch uses, the way kube-apiserver does it:
 *
 * - `GET /api/v1/pods?fieldSelector=spec.nodeName=<node>`: a PodList with the current resourceVersion;
 * - `...&watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=N`: a chunked stream of JSON
 *   events (ADDED, MODIFIED, DELETED, BOOKMARK) after RV, one per line; RV older than the compaction point gets
 *   an ERROR event with a 410 Status (Expired), as the real server sends it; the stream ends after N seconds;
 * - a bearer token check (401), and failures a test switches on: a 500 on the next lists, dropped watches.
 *
 * Only pods, only the fieldSelector on spec.nodeName. Every request is recorded for assertions.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakePod {
  uid: string;
  namespace: string;
  name: string;
  nodeName: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  containers?: Array<{ name: string; memoryRequest?: string; memoryLimit?: string }>;
}

interface Stored {
  pod: FakePod;
  rv: number;
}

interface Event {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  pod: FakePod;
}

export class FakeKubeApiServer {
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  private readonly pods = new Map<string, Stored>();
  private readonly events: Event[] = [];
  private readonly watches = new Set<{ res: http.ServerResponse; node: string; after: number }>();
  private rv = 100;
  /** Events at or before this resourceVersion are gone: a watch from there gets 410. */
  private compactedRv = 0;
  private failLists = 0;
  port = 0;
  /** Every request's path and query, in order. */
  readonly requests: string[] = [];
  /** The bearer token required; undefined: none checked. */
  token: string | undefined;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const w of this.watches) w.res.destroy();
    this.watches.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The current resourceVersion. */
  get resourceVersion(): number {
    return this.rv;
  }

  /** Open watch streams now. */
  get openWatches(): number {
    return this.watches.size;
  }

  add(pod: FakePod): void {
    this.change(this.pods.has(pod.uid) ? 'MODIFIED' : 'ADDED', pod);
  }

  update(pod: FakePod): void {
    this.change('MODIFIED', pod);
  }

  remove(uid: string): void {
    const stored = this.pods.get(uid);
    if (!stored) return;
    this.pods.delete(uid);
    this.push({ rv: ++this.rv, type: 'DELETED', pod: stored.pod });
  }

  /** A BOOKMARK with the current resourceVersion to every open watch. */
  bookmark(): void {
    this.rv++;
    for (const w of this.watches) w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } } })}\n`);
  }

  /** Forgets the event history: a watch from any earlier resourceVersion gets 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.events.length = 0;
  }

  /** Cuts every open watch connection (a load balancer, an API server restart). */
  dropWatches(): void {
    for (const w of this.watches) w.res.destroy();
    this.watches.clear();
  }

  /** The next `n` lists answer 500. */
  failNextLists(n: number): void {
    this.failLists = n;
  }

  private change(type: 'ADDED' | 'MODIFIED', pod: FakePod): void {
    this.rv++;
    this.pods.set(pod.uid, { pod, rv: this.rv });
    this.push({ rv: this.rv, type, pod });
  }

  private push(event: Event): void {
    this.events.push(event);
    for (const w of this.watches) if (event.pod.nodeName === w.node && event.rv > w.after) w.res.write(`${JSON.stringify(this.eventObject(event))}\n`);
  }

  private eventObject(e: Event): object {
    return { type: e.type, object: this.podObject(e.pod, e.rv) };
  }

  private podObject(pod: FakePod, rv: number): object {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { uid: pod.uid, namespace: pod.namespace, name: pod.name, resourceVersion: String(rv), labels: pod.labels ?? {}, annotations: pod.annotations ?? {} },
      spec: {
        nodeName: pod.nodeName,
        containers: (pod.containers ?? []).map((c) => ({
          name: c.name,
          image: 'example/image',
          resources: { ...(c.memoryRequest ? { requests: { memory: c.memoryRequest } } : {}), ...(c.memoryLimit ? { limits: { memory: c.memoryLimit } } : {}) },
        })),
      },
      status: { phase: 'Running' },
    };
  }

  private status(res: http.ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code }));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', this.url);
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    if (req.method !== 'GET' || url.pathname !== '/api/v1/pods') return this.status(res, 404, 'NotFound', `the fake serves only GET /api/v1/pods, not ${req.method} ${url.pathname}`);
    const selector = /^spec\.nodeName=(.+)$/.exec(url.searchParams.get('fieldSelector') ?? '');
    if (!selector) return this.status(res, 400, 'BadRequest', 'the fake needs fieldSelector=spec.nodeName=<node>');
    const node = selector[1]!;
    if (url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true') return this.watch(url, node, res);
    if (this.failLists > 0) {
      this.failLists--;
      return this.status(res, 500, 'InternalError', 'the fake was told to fail this list');
    }
    const items = [...this.pods.values()].filter((s) => s.pod.nodeName === node).map((s) => this.podObject(s.pod, s.rv));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items }));
  }

  private watch(url: URL, node: string, res: http.ServerResponse): void {
    const from = Number(url.searchParams.get('resourceVersion') ?? '');
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    if (!Number.isInteger(from) || from < this.compactedRv) {
      // What kube-apiserver sends for a resourceVersion it no longer has: a 200 stream with one ERROR event.
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `too old resource version: ${from} (${this.compactedRv})`, reason: 'Expired', code: 410 } })}\n`);
      return;
    }
    const w = { res, node, after: from };
    this.watches.add(w);
    for (const e of this.events) if (e.rv > from && e.pod.nodeName === node) res.write(`${JSON.stringify(this.eventObject(e))}\n`);
    const seconds = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    const timer = seconds > 0 ? setTimeout(() => res.end(), seconds * 1000) : undefined;
    res.on('close', () => {
      if (timer) clearTimeout(timer);
      this.watches.delete(w);
    });
  }
}
