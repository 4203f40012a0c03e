/**
 * The shim's HTTP endpoints: /metrics (Prometheus), /healthz (the loop is
 * turning), /readyz (discovery and a first cycle done), /decisions (the recent
 * balloon decisions with their reasons, JSON, for debugging).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InputError } from '../common/errors.js';

export interface HttpHandlers {
  metrics(): Promise<string>;
  contentType: string;
  healthy(): { ok: boolean; detail: string };
  ready(): { ok: boolean; detail: string };
  decisions(): unknown;
}

/** Parses `host:port` (IPv6 in brackets); port 0 picks a free port. */
export function parseListenAddress(flag: string, text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new InputError(flag, `"${text}" is not accepted; use HOST:PORT such as 0.0.0.0:9470, 127.0.0.1:9470 or [::]:9470`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

export async function startHttpServer(listen: { host: string; port: number }, handlers: HttpHandlers): Promise<{ server: http.Server; port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'GET only\n');
    switch (url) {
      case '/metrics':
        handlers.metrics().then(
          (text) => send(200, handlers.contentType, text),
          (error: Error) => send(500, 'text/plain', `${error.message}\n`),
        );
        return;
      case '/healthz': {
        const h = handlers.healthy();
        return send(h.ok ? 200 : 503, 'text/plain', `${h.detail}\n`);
      }
      case '/readyz': {
        const r = handlers.ready();
        return send(r.ok ? 200 : 503, 'text/plain', `${r.detail}\n`);
      }
      case '/decisions':
        return send(200, 'application/json', `${JSON.stringify(handlers.decisions())}\n`);
      default:
        return send(404, 'text/plain', 'not found: try /metrics, /healthz, /readyz, /decisions\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      // The address is the admin's choice: a port in use or not allowed is bad input, not a crash.
      const where = `${listen.host}:${listen.port}`;
      if (error.code === 'EADDRINUSE') reject(new InputError('--metrics-address', `${where} is already in use; choose another port or stop what listens there`));
      else if (error.code === 'EACCES' || error.code === 'EADDRNOTAVAIL') reject(new InputError('--metrics-address', `cannot listen on ${where} (${error.code}); accepted: a local address and a port this process may bind`));
      else reject(error);
    });
    server.listen(listen.port, listen.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
