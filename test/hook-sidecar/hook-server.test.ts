/**
 * The sidecar as virt-launcher sees it: the real CLI process on a KubeVirt-style hook
 * directory, called over gRPC on its unix socket exactly as virt-launcher calls it.
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOOK_PROTOS, serviceClient } from '../../src/common/protos.js';
import { describeHook, discoverHooks, onDefineDomain, shutdownHooks, type DiscoveredHook } from '../../src/kubevirt-sim/hook-manager.js';
import { fixtureDomainXml, fixtureVmiJson, vmiWith } from '../support/fixtures.js';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process.js';

/** Another sidecar (a real gRPC hook server, v1alpha2 only) that appends its own qemu argument. */
async function startOtherHook(dir: string): Promise<grpc.Server> {
  mkdirSync(dir, { recursive: true });
  const server = new grpc.Server();
  server.addService(serviceClient(HOOK_PROTOS.info.file, HOOK_PROTOS.info.service).service, {
    Info: (_c: unknown, cb: grpc.sendUnaryData<object>) => cb(null, { name: 'other', versions: ['v1alpha2'], hookPoints: [{ name: 'OnDefineDomain', priority: 0 }] }),
  });
  server.addService(serviceClient(HOOK_PROTOS.v1alpha2.file, HOOK_PROTOS.v1alpha2.service).service, {
    OnDefineDomain: (call: grpc.ServerUnaryCall<{ domainXML: Buffer }, object>, cb: grpc.sendUnaryData<object>) => {
      const xml = call.request.domainXML.toString();
      const marker = '<qemu:commandline><qemu:arg value="-smbios"></qemu:arg><qemu:arg value="type=11,value=other"></qemu:arg></qemu:commandline>';
      cb(null, { domainXML: Buffer.from(xml.includes('type=11,value=other') ? xml : xml.replace('</domain>', `${marker}</domain>`)) });
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${path.join(dir, 'other.sock')}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
  );
  return server;
}

function callRaw(socketPath: string, domainXML: Buffer, vmi: Buffer): Promise<{ code: number; details: string; xml?: string }> {
  const Client = serviceClient(HOOK_PROTOS.v1alpha3.file, HOOK_PROTOS.v1alpha3.service);
  const client = new Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 16 * 2 ** 20 });
  return new Promise((resolve) => {
    (client as any).OnDefineDomain({ domainXML, vmi }, { deadline: Date.now() + 10_000 }, (error: grpc.ServiceError | null, res: { domainXML: Buffer }) => {
      client.close();
      if (error) resolve({ code: error.code, details: error.details });
      else resolve({ code: 0, details: '', xml: res.domainXML.toString() });
    });
  });
}

describe('hook sidecar process (virt-launcher view)', function () {
  let root: string;
  let sidecar: SidecarProcess;

  beforeEach(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'km-hooks-'));
    sidecar = await startSidecarProcess(path.join(root, 'hook-sidecar-1'), { CONTAINER_NAME: 'hook-sidecar-1' });
  });

  afterEach(async () => {
    if (sidecar.child.exitCode === null && sidecar.child.signalCode === null) {
      sidecar.child.kill('SIGKILL');
      await sidecar.exited;
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('is discovered by subdirectory scanning and answers Info', async () => {
    // A file directly in the top directory is ignored, as virt-launcher ignores it. virt-launcher gives Info 1 s;
    // how long Info takes is measured in bench/ondefinedomain-latency, not here (a loaded machine is no failure).
    writeFileSync(path.join(root, 'not-a-hook'), '');
    const hooks = await discoverHooks(root, 1);
    expect(hooks).to.have.length(1);
    expect(hooks[0]).to.deep.include({ name: 'kubemom', version: 'v1alpha3', hookPoints: ['OnDefineDomain', 'Shutdown'] });
    expect(hooks[0]!.hookPoints).not.to.include('PreCloudInitIso');
  });

  it('creates its socket owner/group-only (0660) and keeps its own files out of the scanned directory', async () => {
    expect(statSync(sidecar.socketPath).mode & 0o777).to.equal(0o660);
    await onDefineDomain(await discoverHooks(root, 1), fixtureDomainXml, fixtureVmiJson);
    const entries = spawnSync('find', [path.join(root, 'hook-sidecar-1'), '-maxdepth', '1', '-not', '-type', 'd']).stdout.toString().trim().split('\n');
    expect(entries).to.deep.equal([sidecar.socketPath]);
  });

  it('chains after another sidecar, three calls in a row giving the same domain', async () => {
    const other = await startOtherHook(path.join(root, 'hook-sidecar-0'));
    try {
      const hooks = await discoverHooks(root, 2);
      expect(hooks.map((h) => h.version)).to.deep.equal(['v1alpha2', 'v1alpha3']);
      const first = await onDefineDomain(hooks, fixtureDomainXml, fixtureVmiJson);
      expect(first).to.contain('type=11,value=other');
      expect(first).to.contain('socket,id=kubemom-qmp,path=/var/run/kubevirt-hooks/hook-sidecar-1/kubemom/qmp/e4686d2c-6e8d-4335-b8fd-81bee22f4814.sock,server=on,wait=off');
      expect(first).to.contain('<memballoon model="virtio-non-transitional"');
      let xml = first;
      for (let i = 0; i < 2; i++) xml = await onDefineDomain(hooks, xml, fixtureVmiJson);
      expect(xml).to.equal(first);
    } finally {
      other.forceShutdown();
    }
  });

  it('creates the QMP directory for QEMU before it answers, and saves the VM config', async () => {
    await onDefineDomain(await discoverHooks(root, 1), fixtureDomainXml, fixtureVmiJson);
    const qmpDir = path.join(root, 'hook-sidecar-1', 'kubemom', 'qmp');
    expect(statSync(qmpDir).isDirectory()).to.equal(true);
    expect(statSync(qmpDir).mode & 0o777).to.equal(0o770);
    const saved = JSON.parse(readFileSync(path.join(root, 'hook-sidecar-1', 'kubemom', 'state', 'vm.json'), 'utf8'));
    expect(saved.identity.uid).to.equal('e4686d2c-6e8d-4335-b8fd-81bee22f4814');
  });

  it('answers bad input with INVALID_ARGUMENT naming the field, and oversize input with RESOURCE_EXHAUSTED', async () => {
    const vmi = Buffer.from(fixtureVmiJson);
    const cases: [Buffer, Buffer, number, RegExp][] = [
      [Buffer.from('<domain><devices>'), vmi, grpc.status.INVALID_ARGUMENT, /domainXML: is not well-formed XML at line 1/],
      [Buffer.from('<network></network>'), vmi, grpc.status.INVALID_ARGUMENT, /only <domain> is accepted/],
      [Buffer.from('<!DOCTYPE d [<!ENTITY x "y">]><domain>&x;</domain>'), vmi, grpc.status.INVALID_ARGUMENT, /DTDs and entity declarations are not accepted/],
      [Buffer.from(fixtureDomainXml), Buffer.from('not json'), grpc.status.INVALID_ARGUMENT, /^vmi: is not valid JSON/],
      [Buffer.from(fixtureDomainXml), Buffer.from(vmiWith({ 'kubemom.io/priority': 'x' })), grpc.status.INVALID_ARGUMENT, /kubemom\.io\/priority"\]: "x" is not accepted; use an integer from 0 to 100/],
      [Buffer.from(fixtureDomainXml), Buffer.alloc(0), grpc.status.INVALID_ARGUMENT, /^vmi: is not valid JSON/],
      // Invalid UTF-8 quoted back in the message must not turn the answer into UNKNOWN (found by fuzzing).
      [Buffer.from(fixtureDomainXml), Buffer.from([241, 128, 128, 128]), grpc.status.INVALID_ARGUMENT, /^vmi: is not valid JSON: .*\\u\{/],
      [Buffer.from(`<domain>${' '.repeat(3 * 2 ** 20)}</domain>`), vmi, grpc.status.RESOURCE_EXHAUSTED, /domainXML: is 3145745 bytes; at most 2097152 bytes are accepted/],
    ];
    for (const [xml, vmiBytes, code, details] of cases) {
      const reply = await callRaw(sidecar.socketPath, xml, vmiBytes);
      expect(reply.code, reply.details).to.equal(code);
      expect(reply.details).to.match(details);
    }
    // The sidecar is still serving after all of that.
    expect((await callRaw(sidecar.socketPath, Buffer.from(fixtureDomainXml), vmi)).code).to.equal(0);
  });

  it('returns the domain unchanged when it cannot prepare the QMP directory (its own failure)', async () => {
    // A regular file where the directory should be: mkdir fails inside the sidecar.
    mkdirSync(path.join(root, 'hook-sidecar-1', 'kubemom'), { recursive: true });
    writeFileSync(path.join(root, 'hook-sidecar-1', 'kubemom', 'qmp'), '');
    const reply = await callRaw(sidecar.socketPath, Buffer.from(fixtureDomainXml), Buffer.from(fixtureVmiJson));
    expect(reply.code).to.equal(0);
    expect(reply.xml).to.equal(fixtureDomainXml);
    expect(sidecar.stderr()).to.match(/cannot prepare the QMP directory; returning the domain unchanged/);
  });

  it('exits 0 after answering Shutdown, removing its socket', async () => {
    const hooks = await discoverHooks(root, 1);
    await shutdownHooks(hooks);
    expect(await sidecar.exited).to.equal(0);
    expect(existsSync(sidecar.socketPath)).to.equal(false);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`exits 0 on ${signal}, removing its socket`, async () => {
      sidecar.child.kill(signal);
      expect(await sidecar.exited).to.equal(0);
      expect(existsSync(sidecar.socketPath)).to.equal(false);
    });
  }

  it('replaces a stale socket left by a killed sidecar, and refuses to replace a non-socket', async () => {
    sidecar.child.kill('SIGKILL');
    await sidecar.exited;
    expect(existsSync(sidecar.socketPath)).to.equal(true);
    const hooksDir = path.dirname(sidecar.socketPath);
    sidecar = await startSidecarProcess(hooksDir);
    const hook: DiscoveredHook = await describeHook(sidecar.socketPath);
    expect(hook.name).to.equal('kubemom');
    sidecar.child.kill('SIGKILL');
    await sidecar.exited;

    rmSync(sidecar.socketPath);
    writeFileSync(sidecar.socketPath, 'precious');
    await startSidecarProcess(hooksDir).then(
      () => expect.fail('started over a regular file'),
      (error: Error) => expect(error.message).to.match(/exists and is not a socket; refusing to replace it/),
    );
    expect(readFileSync(sidecar.socketPath, 'utf8')).to.equal('precious');
  });
});
