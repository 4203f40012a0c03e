/**
 * The least of a Kubernetes API client the shim needs: a JSON GET and a streaming watch (one JSON event per
 * line), over node:http(s), with the in-cluster service account's bearer token (read again for each request:
 * projected tokens rotate) and CA. Why not @kubernetes/client-node: it added 42 to 48 MiB to the shim's RSS
 * (70 MiB to 112-118 MiB with one informer, Node 20) and 72 packages (72 MB) to the image for these two calls
 * (docs/kubelet-signals.md, "Pod requests are floors").
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';

/** Where the API server is and how to authenticate. */
export interface KubeApiConfig {
  server: URL;
  /** A bearer token file (the service account's); none: no Authorization header. */
  tokenFile?: string;
  /** The CA bundle for an https server; none: the system's. */
  caFile?: string;
}

/** The service account directory a pod gets (automountServiceAccountToken). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The in-cluster config: KUBERNETES_SERVICE_HOST/PORT and the service account's token and CA. Undefined, with
 * why, when the pod has none of it (no service account token mounted, not in a cluster).
 */
export function inClusterConfig(env: NodeJS.ProcessEnv = process.env, dir: string = SERVICE_ACCOUNT_DIR): KubeApiConfig | { missing: string } {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) return { missing: 'KUBERNETES_SERVICE_HOST is not set (not running in a pod)' };
  const tokenFile = path.join(dir, 'token');
  try {
    readFileSync(tokenFile);
  } catch {
    return { missing: `no service account token at ${tokenFile} (automountServiceAccountToken off?)` };
  }
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return { server: new URL(`https://${hostPart}:${port}`), tokenFile, caFile: path.join(dir, 'ca.crt') };
}

/** An API answer that is not 2xx, or a transport failure; `status` 0 for the latter. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The Status object's reason (Expired, Forbidden, ...), when the server sent one. */
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** The most a list answer may be: far above a node's pods (110 by default), far below what would hurt. */
const MAX_BODY_BYTES = 64 * 2 ** 20;
/** The most one watch event line may be. */
const MAX_LINE_BYTES = 8 * 2 ** 20;

export class KubeApiClient {
  private ca: Buffer | undefined;

  constructor(
    readonly config: KubeApiConfig,
    private readonly timeoutMs = 30_000,
  ) {}

  private request(pathAndQuery: string, onResponse: (res: http.IncomingMessage) => void, onError: (e: Error) => void, timeoutMs: number): http.ClientRequest {
    const url = new URL(pathAndQuery, this.config.server);
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'kubemom-shim' };
    if (this.config.tokenFile) headers.Authorization = `Bearer ${readFileSync(this.config.tokenFile, 'utf8').trim()}`;
    const secure = url.protocol === 'https:';
    if (secure && this.config.caFile && this.ca === undefined) this.ca = readFileSync(this.config.caFile);
    const options: https.RequestOptions = { method: 'GET', headers, timeout: timeoutMs, ...(secure && this.ca ? { ca: this.ca } : {}) };
    const req = (secure ? https : http).request(url, options, onResponse);
    req.on('timeout', () => req.destroy(new KubeApiError(0, `no answer from ${url.host} within ${timeoutMs} ms`)));
    req.on('error', onError);
    req.end();
    return req;
  }

  /** GETs a JSON document; a non-2xx answer is a KubeApiError with the server's message. */
  getJson<T>(pathAndQuery: string): Promise<T> {
    return new Promise((resolve, reject) => {
      try {
        this.request(
          pathAndQuery,
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (c: Buffer) => {
              size += c.length;
              if (size > MAX_BODY_BYTES) res.destroy(new KubeApiError(0, `answer larger than ${MAX_BODY_BYTES} bytes`));
              else chunks.push(c);
            });
            res.on('error', reject);
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let body: unknown;
              try {
                body = JSON.parse(text);
              } catch {
                reject(new KubeApiError(res.statusCode ?? 0, `HTTP ${res.statusCode}: not JSON: ${text.slice(0, 80)}`));
                return;
              }
              const status = res.statusCode ?? 0;
              if (status < 200 || status >= 300) reject(statusError(status, body));
              else resolve(body as T);
            });
          },
          reject,
          this.timeoutMs,
        );
      } catch (error) {
        reject(error as Error);
      }
    });
  }

  /**
   * Opens a watch: `onEvent` gets each event object as it arrives. Resolves when the server ends the watch
   * (its timeout), rejects on a transport error or a non-2xx answer. `stop()` ends it from this side.
   */
  watch(pathAndQuery: string, onEvent: (event: unknown) => void, idleTimeoutMs: number): { done: Promise<void>; stop(): void } {
    let req: http.ClientRequest | undefined;
    let stopped = false;
    const done = new Promise<void>((resolve, reject) => {
      try {
        req = this.request(
          pathAndQuery,
          (res) => {
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => {
                let body: unknown;
                try {
                  body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
                } catch {
                  body = undefined;
                }
                reject(statusError(status, body));
              });
              return;
            }
            let pending = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              pending += chunk;
              let nl: number;
              while ((nl = pending.indexOf('\n')) >= 0) {
                const line = pending.slice(0, nl).trim();
                pending = pending.slice(nl + 1);
                if (line === '') continue;
                let event: unknown;
                try {
                  event = JSON.parse(line);
                } catch {
                  res.destroy(new KubeApiError(0, `watch sent a line that is not JSON: ${line.slice(0, 80)}`));
                  return;
                }
                onEvent(event);
              }
              if (pending.length > MAX_LINE_BYTES) res.destroy(new KubeApiError(0, `watch event larger than ${MAX_LINE_BYTES} bytes`));
            });
            res.on('error', (e) => (stopped ? resolve() : reject(e)));
            res.on('aborted', () => (stopped ? resolve() : reject(new KubeApiError(0, 'the watch connection was dropped'))));
            res.on('end', () => resolve());
          },
          (e) => (stopped ? resolve() : reject(e)),
          idleTimeoutMs,
        );
      } catch (error) {
        reject(error as Error);
      }
    });
    return {
      done,
      stop: () => {
        stopped = true;
        req?.destroy();
      },
    };
  }
}

/** A KubeApiError from a non-2xx answer and its Status body. */
function statusError(status: number, body: unknown): KubeApiError {
  const s = body as { message?: unknown; reason?: unknown } | undefined;
  const message = typeof s?.message === 'string' ? s.message : `HTTP ${status}`;
  return new KubeApiError(status, `HTTP ${status}: ${message}`, typeof s?.reason === 'string' ? s.reason : undefined);
}
