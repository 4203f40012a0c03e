/**
 * Security checks on the real parts: the sidecar process over its gRPC socket, the shim
 * in-process with real gRPC sidecars, and `kubemom shim` as a process inspected through /proc.
 *
 * Already covered elsewhere (cited in docs/reliability.md, not repeated): the sidecar socket
 * 0660 and QMP directory 0770 (test/hook-sidecar/hook-server.test.ts), a sidecar naming
 * another pod is refused (test/shim/loop.test.ts, discovery.test.ts), the DaemonSet's
 * privileges (test/deploy/manifests.test.ts "least privilege").
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AGENT_PROTO, HOOK_PROTOS, serviceClient } from '../../src/common/protos.js';
import { ANNOTATIONS } from '../../src/hook-sidecar/annotations.js';
import { Shim, type ShimOptions } from '../../src/shim/shim.js';
import { agentServiceDefinition } from '../../src/api/kubemom-v1.js';
import type { Policy } from '../../src/policy/types.js';
import { fixtureDomainXml, fixtureVmiJson, vmiWith } from '../support/fixtures.js';
import { cliPath, startSidecarProcess, type SidecarProcess } from '../support/sidecar-process.js';
import { GI, KubeletTree, MI, waitFor } from '../shim/kubelet-tree.js';
import { freePort, TestSqueezePolicy, testShimOptions } from '../shim/support.js';

const BIG = 16 * 2 ** 20;

function callDefine(socketPath: string, domainXML: Buffer, vmi: Buffer): Promise<{ code: number; details: string; xml?: string }> {
  const Client = serviceClient(HOOK_PROTOS.v1alpha3.file, HOOK_PROTOS.v1alpha3.service);
  const client = new Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': BIG });
  return new Promise((resolve) => {
    (client as any).OnDefineDomain({ domainXML, vmi }, { deadline: Date.now() + 15_000 }, (error: grpc.ServiceError | null, res: { domainXML: Buffer }) => {
      client.close();
      if (error) resolve({ code: error.code, details: error.details });
      else resolve({ code: 0, details: '', xml: res.domainXML.toString() });
    });
  });
}

/** Every path under `dir` (recursively), relative. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d)) {
      const r = path.join(rel, name);
      out.push(r);
      const st = statSync(path.join(d, name), { throwIfNoEntry: false });
      if (st?.isDirectory()) walk(path.join(d, name), r);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** The socket inodes a process holds, from /proc/<pid>/fd. */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // fd closed meanwhile
    }
  }
  return inodes;
}

interface InetSocket {
  table: string;
  local: string;
  port: number;
  state: string;
}

/** The process's own inet sockets from /proc/<pid>/net/{tcp,tcp6,udp,udp6}. */
function inetSockets(pid: number): InetSocket[] {
  const mine = socketInodes(pid);
  const found: InetSocket[] = [];
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    const lines = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      const [addr, port] = f[1]!.split(':');
      if (mine.has(f[9]!)) found.push({ table, local: addr!, port: parseInt(port!, 16), state: f[3]! });
    }
  }
  return found;
}

describe('reliability: security', function () {

  describe('the sidecar process', () => {
    let root: string;
    let hooksDir: string;
    let sidecar: SidecarProcess;

    beforeEach(async () => {
      root = mkdtempSync(path.join(os.tmpdir(), 'km-sec-'));
      hooksDir = path.join(root, 'hooks', 'hook-sidecar-0');
      sidecar = await startSidecarProcess(hooksDir, { CONTAINER_NAME: 'hook-sidecar-0' });
    });
    afterEach(async () => {
      if (sidecar.child.exitCode === null && sidecar.child.signalCode === null) {
        sidecar.child.kill('SIGKILL');
        await sidecar.exited;
      }
      rmSync(root, { recursive: true, force: true });
    });

    it('keeps its files owner/group-only: socket 0660, kubemom/qmp/ 0770, kubemom/state/ 0700, vm.json 0600', async () => {
      expect((await callDefine(sidecar.socketPath, Buffer.from(fixtureDomainXml), Buffer.from(fixtureVmiJson))).code).to.equal(0);
      const mode = (p: string): number => statSync(path.join(hooksDir, p)).mode & 0o777;
      expect(mode('kubemom.sock')).to.equal(0o660);
      expect(mode('kubemom')).to.equal(0o755);
      expect(mode('kubemom/qmp')).to.equal(0o770);
      expect(mode('kubemom/state')).to.equal(0o700);
      expect(mode('kubemom/state/vm.json')).to.equal(0o600);
    });

    it('refuses gRPC messages over 8 MiB on the hook API and on the agent API (same server), and keeps serving', async () => {
      const huge = Buffer.alloc(9 * 2 ** 20, 0x20);
      const reply = await callDefine(sidecar.socketPath, huge, Buffer.from(fixtureVmiJson));
      expect(reply.code, reply.details).to.equal(grpc.status.RESOURCE_EXHAUSTED);
      const Agent = serviceClient(AGENT_PROTO.file, AGENT_PROTO.service);
      const agent = new Agent(`unix://${sidecar.socketPath}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': BIG }) as any;
      const code = await new Promise<number>((resolve) =>
        agent.SetTarget({ target_bytes: GI, reason: 'x'.repeat(9 * 2 ** 20) }, { deadline: Date.now() + 10_000 }, (e: grpc.ServiceError | null) => resolve(e?.code ?? 0)),
      );
      agent.close();
      expect(code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
      expect((await callDefine(sidecar.socketPath, Buffer.from(fixtureDomainXml), Buffer.from(fixtureVmiJson))).code).to.equal(0);
    });

    it('never processes a DTD or entity: billion laughs, external entities, parameter entities are refused; bare references stay text', async () => {
      const laughs = `<?xml version="1.0"?><!DOCTYPE domain [<!ENTITY a "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY ${String.fromCharCode(98 + i)} "${`&${String.fromCharCode(97 + i)};`.repeat(10)}">`).join('')}]><domain>&j;</domain>`;
      const hostile = [
        laughs,
        '<!DOCTYPE domain [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><domain type="kvm"><name>&xxe;</name></domain>',
        '<!DOCTYPE domain SYSTEM "http://127.0.0.1:1/evil.dtd"><domain/>',
        '<!DOCTYPE domain [<!ENTITY % p SYSTEM "file:///etc/shadow"> %p;]><domain/>',
        '<!-- hidden --><!doctype domain [<!entity x "y">]><domain/>',
        fixtureDomainXml.replace('<domain', '<!DOCTYPE domain [<!ENTITY x SYSTEM "file:///etc/hostname">]>\n<domain'),
        fixtureDomainXml.replace('</devices>', '<!ENTITY x "y"></devices>'),
      ];
      for (const xml of hostile) {
        const reply = await callDefine(sidecar.socketPath, Buffer.from(xml), Buffer.from(fixtureVmiJson));
        expect(reply.code, `${reply.details} for ${xml.slice(0, 60)}`).to.equal(grpc.status.INVALID_ARGUMENT);
        expect(reply.details).to.match(/^domainXML: /);
      }
      // An entity reference without a DTD is kept as written, never resolved.
      const bare = fixtureDomainXml.replace('</devices>', '<x:note xmlns:x="urn:x">&xxe; &amp; &#65;</x:note></devices>');
      const ok = await callDefine(sidecar.socketPath, Buffer.from(bare), Buffer.from(fixtureVmiJson));
      expect(ok.code, ok.details).to.equal(0);
      expect(ok.xml).to.include('&xxe; &amp; &#65;');
    });

    it('nothing in an annotation, VMI uid, name or namespace makes it write or point QEMU outside its own directory', async () => {
      const before = new Set(tree(root));
      const evil = ['../../../../tmp/kubemom-evil', '/tmp/kubemom-evil', 'a/../../b', '..', '.', '~root', 'x,server=on,path=/tmp/kubemom-evil', 'a\nb', 'a\u0000b', '%2e%2e%2f', '\\..\\..\\x'];
      let accepted = 0;
      for (const value of evil) {
        // Every annotation: all are validated, so a path-like value is refused naming the annotation.
        for (const spec of ANNOTATIONS) {
          const reply = await callDefine(sidecar.socketPath, Buffer.from(fixtureDomainXml), Buffer.from(vmiWith({ [spec.key]: value })));
          expect(reply.code, `${spec.key}=${JSON.stringify(value)}`).to.equal(grpc.status.INVALID_ARGUMENT);
          expect(reply.details).to.include(spec.key);
        }
        // uid, name, namespace: accepted or refused, but the QMP socket stays in <hooks>/qmp/.
        for (const field of ['uid', 'name', 'namespace'] as const) {
          const vmi = vmiWith({}, (v) => (v.metadata[field] = value));
          const reply = await callDefine(sidecar.socketPath, Buffer.from(fixtureDomainXml), Buffer.from(vmi));
          expect([0, grpc.status.INVALID_ARGUMENT], reply.details).to.include(reply.code);
          if (reply.code !== 0) continue;
          accepted++;
          const chardev = /socket,id=kubemom-qmp,path=([^,"]+),server=on,wait=off/.exec(reply.xml!);
          expect(chardev, 'one QMP chardev').to.not.equal(null);
          const socketPath = chardev![1]!;
          expect(path.posix.dirname(socketPath), `${field}=${JSON.stringify(value)}`).to.equal('/var/run/kubevirt-hooks/hook-sidecar-0/kubemom/qmp');
          expect(path.posix.basename(socketPath)).to.match(/^[A-Za-z0-9._-]+\.sock$/);
          expect(path.posix.normalize(socketPath)).to.equal(socketPath);
          const saved = JSON.parse(readFileSync(path.join(hooksDir, 'kubemom', 'state', 'vm.json'), 'utf8'));
          expect(path.dirname(saved.qmpSocketPath)).to.equal(path.join(hooksDir, 'kubemom', 'qmp'));
        }
      }
      expect(accepted, 'hostile names were accepted too (only their use is constrained)').to.be.greaterThan(10);
      // Nothing was created outside the sidecar's own directory.
      const created = tree(root).filter((p) => !before.has(p));
      const outside = created.filter((p) => !p.startsWith(path.relative(root, hooksDir)));
      expect(outside).to.deep.equal([]);
      expect(existsSync('/tmp/kubemom-evil')).to.equal(false);
      expect(readdirSync(path.join(hooksDir, 'kubemom', 'qmp'))).to.deep.equal([]);
    });
  });

  describe('the shim', () => {
    let kubelet: KubeletTree;
    let shim: Shim<unknown> | undefined;
    const servers: grpc.Server[] = [];

    beforeEach(() => (kubelet = new KubeletTree()));
    afterEach(async () => {
      await shim?.stop();
      shim = undefined;
      for (const s of servers.splice(0)) s.forceShutdown();
      await kubelet.close();
    });

    function options(overrides: Partial<ShimOptions> = {}): ShimOptions {
      return testShimOptions(kubelet.root, { session: { describeDeadlineMs: 500, setTargetDeadlineMs: 500, initialBackoffMs: 300, maxBackoffMs: 1000 }, ...overrides });
    }

    it('a sidecar claiming another VM (its own pod, the other VM\'s name) never gets that VM\'s targets or metrics; counted and logged', async () => {
      const honest = await kubelet.addVm('victim', { priority: 10, usedBytes: 300 * MI });
      const s = new Shim(options(), new TestSqueezePolicy(Number.MAX_SAFE_INTEGER) as Policy<unknown>);
      shim = s;
      await s.start();
      expect(await waitFor(() => honest.received.length > 0)).to.equal(true);
      // The impostor lives in its own pod (its pod UID matches its path), but claims the victim's namespace/name.
      const impostor = await kubelet.addVm('victim', { priority: 99, guestMemoryBytes: 8 * GI, guaranteedMemoryBytes: 6 * GI, usedBytes: 7 * GI });
      expect(await waitFor(() => s.registry.all().filter((x) => x.state === 'live').length === 2)).to.equal(true);
      const cycles = s.loop.cycles;
      expect(await waitFor(() => s.loop.cycles > cycles + 5)).to.equal(true);
      expect(impostor.received, 'the impostor got no target').to.have.length(0);
      expect(s.lastCycle!.input.guests.map((g) => [g.id, g.guestMemoryBytes])).to.deep.equal([['default/victim', 2 * GI]]);
      const text = await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text();
      expect(text).to.match(/^kubemom_shim_sidecar_identity_conflicts_total 1$/m);
      expect(text).to.include(`kubemom_vm_guest_memory_bytes{namespace="default",name="victim"} ${2 * GI}`);
      expect(text).to.not.include(`${8 * GI}`);
      // The victim's decision is still made each cycle, once, for the victim's own session.
      expect(s.lastCycle!.records.filter((r) => r.guestId === 'default/victim')).to.have.length(1);
      expect(honest.received.every((r) => r.targetBytes === 512 * MI)).to.equal(true);
    });

    it('refuses a sidecar whose answers exceed 8 MiB; the others stay live', async () => {
      await kubelet.addVm('fine');
      const podUid = randomUUID();
      const socketPath = kubelet.socketPath(podUid);
      mkdirSync(path.dirname(socketPath), { recursive: true });
      // A hostile sidecar: a real gRPC server that answers Describe with a 9 MiB name.
      const server = new grpc.Server({ 'grpc.max_send_message_length': BIG });
      servers.push(server);
      let describes = 0;
      server.addService(agentServiceDefinition(), {
        Describe: (_c: unknown, cb: grpc.sendUnaryData<object>) => {
          describes++;
          cb(null, { api_revision: 1, vm: { namespace: 'default', name: 'x'.repeat(9 * 2 ** 20), uid: 'u', pod_uid: podUid }, guest_memory_bytes: GI, guaranteed_memory_bytes: GI });
        },
        WatchStats: () => undefined,
        SetTarget: () => undefined,
      });
      const link = mkdtempSync(path.join(os.tmpdir(), 'km-big-'));
      const { symlinkSync } = await import('node:fs');
      symlinkSync(path.dirname(socketPath), path.join(link, 'd'));
      await new Promise<void>((resolve, reject) =>
        server.bindAsync(`unix://${link}/d/kubemom.sock`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
      );
      const s = new Shim(options(), new TestSqueezePolicy(Number.MAX_SAFE_INTEGER) as Policy<unknown>);
      shim = s;
      await s.start();
      expect(await waitFor(() => describes >= 2), 'the shim asked and retried').to.equal(true);
      const sessions = s.registry.all();
      expect(sessions.find((x) => x.found.podUid === podUid)!.state).to.not.equal('live');
      // The honest sidecar becomes live (an event: on a loaded machine its first Describe may still be in flight).
      const fine = sessions.find((x) => x.found.podUid !== podUid)!;
      expect(await waitFor(() => fine.state === 'live'), `fine sidecar ${fine.state}`).to.equal(true);
      rmSync(link, { recursive: true, force: true });
    });

    async function listeningSockets(args: string[]): Promise<{ sockets: InetSocket[]; stderr: string }> {
      const child = spawn(process.execPath, [cliPath, 'shim', '--kubelet-root', kubelet.root, '--ksm-dir', '', '--period', '200ms', ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, KUBEMOM_LOG_LEVEL: 'info' },
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      try {
        expect(await waitFor(() => stderr.includes('"msg":"shim started"') && stderr.includes('sidecar session state')), stderr).to.equal(true);
        await new Promise((r) => setTimeout(r, 500)); // a few cycles: sessions, scrapes
        return { sockets: inetSockets(child.pid!), stderr };
      } finally {
        const exit = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exit;
      }
    }

    it('as a process, listens on no TCP or UDP port but the metrics address, and on none without it', async () => {
      await kubelet.addVm('a');
      const port = await freePort();
      const withMetrics = await listeningSockets(['--metrics-address', `127.0.0.1:${port}`, '--node-exporter-url', '']);
      const listening = withMetrics.sockets.filter((x) => x.table.startsWith('tcp') && x.state === '0A');
      expect(listening.map((x) => [x.table, x.local, x.port])).to.deep.equal([['tcp', '0100007F', port]]);
      expect(withMetrics.sockets.filter((x) => x.table.startsWith('udp'))).to.deep.equal([]);
      const none = await listeningSockets(['--metrics-address', '', '--node-exporter-url', '']);
      expect(none.sockets.filter((x) => x.state === '0A' || x.table.startsWith('udp'))).to.deep.equal([]);
    });
  });
});
