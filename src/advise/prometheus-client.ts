/**
 * A small client for Prometheus' HTTP API (`/api/v1/query`, `/api/v1/query_range`):
 * the two calls the advisor makes, with a bearer token for in-cluster use. Every
 * failure is an InputError naming the URL, so the user sees which Prometheus did
 * not answer and why.
 */
import { InputError } from '../common/errors.js';

/** One series of an instant vector: its labels and value. */
export interface InstantSample {
  labels: Record<string, string>;
  value: number;
}

/** One series of a range matrix: its labels, and its points (Unix seconds, value), oldest first. */
export interface RangeSeries {
  labels: Record<string, string>;
  points: Array<[number, number]>;
}

export interface PrometheusClientOptions {
  /** Base URL, e.g. `https://prometheus-k8s.openshift-monitoring.svc:9091`. */
  url: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  bearerToken?: string;
  /** Per-request deadline, ms. */
  timeoutMs?: number;
}

/** What one client did: for the advisor's cost report and the scale bench. */
export interface QueryStats {
  queries: number;
  responseBytes: number;
  samples: number;
}

interface ApiResponse {
  status: 'success' | 'error';
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }> };
  errorType?: string;
  error?: string;
}

export class PrometheusClient {
  readonly stats: QueryStats = { queries: 0, responseBytes: 0, samples: 0 };
  private readonly base: string;

  constructor(private readonly opts: PrometheusClientOptions) {
    this.base = opts.url.replace(/\/+$/, '');
  }

  get url(): string {
    return this.base;
  }

  /** An instant query at `timeSec` (Unix seconds). */
  async instant(query: string, timeSec: number): Promise<InstantSample[]> {
    const data = await this.call('/api/v1/query', { query, time: String(timeSec) }, 'vector');
    return data.map((r) => ({ labels: r.metric, value: Number(r.value![1]) }));
  }

  /** A range query from `startSec` to `endSec` every `stepSec`. */
  async range(query: string, startSec: number, endSec: number, stepSec: number): Promise<RangeSeries[]> {
    const data = await this.call('/api/v1/query_range', { query, start: String(startSec), end: String(endSec), step: String(stepSec) }, 'matrix');
    return data.map((r) => ({ labels: r.metric, points: (r.values ?? []).map(([t, v]) => [t, Number(v)] as [number, number]) }));
  }

  private async call(path: string, params: Record<string, string>, want: string): Promise<NonNullable<ApiResponse['data']>['result']> {
    const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' };
    if (this.opts.bearerToken !== undefined) headers.Authorization = `Bearer ${this.opts.bearerToken}`;
    let response: Response;
    try {
      // POST: a long regular expression of node names does not fit a URL.
      response = await fetch(this.base + path, { method: 'POST', headers, body: new URLSearchParams(params).toString(), signal: AbortSignal.timeout(this.opts.timeoutMs ?? 60_000) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = (err as Error).name === 'TimeoutError' ? `no answer within ${(this.opts.timeoutMs ?? 60_000) / 1000} s` : (cause?.code ?? cause?.message ?? (err as Error).message);
      throw new InputError('--prometheus', `cannot reach Prometheus at ${this.base}: ${why}`);
    }
    const text = await response.text();
    this.stats.queries++;
    this.stats.responseBytes += Buffer.byteLength(text);
    let body: ApiResponse;
    try {
      body = JSON.parse(text) as ApiResponse;
    } catch {
      throw new InputError('--prometheus', `${this.base}${path} answered HTTP ${response.status} with no Prometheus API response (is this a Prometheus URL?)`);
    }
    if (!response.ok || body.status !== 'success' || !body.data) {
      const hint = response.status === 401 || response.status === 403 ? ' (check --bearer-token-file)' : '';
      throw new InputError('--prometheus', `${this.base}${path} answered HTTP ${response.status}: ${body.errorType ?? 'error'}: ${body.error ?? 'no data'}${hint}; query: ${params.query}`);
    }
    if (body.data.resultType !== want) throw new InputError('--prometheus', `${this.base}${path} answered a ${body.data.resultType}, not a ${want}; query: ${params.query}`);
    for (const r of body.data.result) this.stats.samples += r.values?.length ?? 1;
    return body.data.result;
  }
}
