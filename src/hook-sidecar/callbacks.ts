/**
 * KubeVirt hook callbacks: Info, OnDefineDomain (v1alpha1..v1alpha3) and Shutdown.
 */
import * as grpc from '@grpc/grpc-js';
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../common/log.js';
import { InputError, InputTooLargeError } from '../common/errors.js';
import { readSettings } from './annotations.js';
import { domainMemoryBytes, parseDomain, rewriteDomain } from './domain-rewrite.js';
import { parseVmi } from './vmi.js';
import { ensureNamespaceDir, QMP_SUBDIR, saveVmConfig, type VmConfig, type VmCpu } from './vm-config.js';
import { domainDisks, domainVcpus } from './domain-facts.js';

export const HOOK_NAME = 'kubemom';
export const HOOK_VERSIONS = ['v1alpha3', 'v1alpha2', 'v1alpha1'] as const;
export const HOOK_POINTS = ['OnDefineDomain', 'Shutdown'] as const;

export interface HookContext {
  /** The sidecar's hook directory (its own view). */
  hooksDir: string;
  /** The same directory as QEMU in the compute container sees it. */
  qemuHooksDir: string;
  /** uid:gid to give the QMP directory, when QEMU runs as another user. */
  qmpDirOwner?: { uid: number; gid: number };
  log: Logger;
  /** Called with the VM's config after every successful OnDefineDomain. */
  onVmDefined(config: VmConfig): void;
  /** Called after Shutdown has been answered. */
  onShutdown(): void;
}

interface DefineParams {
  domainXML?: Buffer;
  vmi?: Buffer;
}

/**
 * gRPC carries status details in an HTTP/2 header: a message quoting hostile input
 * (control characters, invalid UTF-8) could not be sent and the caller would see
 * UNKNOWN instead of the precise error. Everything outside printable ASCII is escaped.
 */
export function printableAscii(message: string): string {
  return message.replace(/[^\x20-\x7e]/gu, (c) => [...c].map((u) => `\\u{${u.codePointAt(0)!.toString(16)}}`).join(''));
}

/** The QMP socket's file name: the VMI's UID is unique, stable and short. */
export function qmpSocketName(vmiUid: string): string {
  return `${vmiUid.replace(/[^A-Za-z0-9._-]/g, '_')}.sock`;
}

/** Creates the QMP directory so that QEMU's user can create its socket there. */
function prepareQmpDirectory(ctx: HookContext): string {
  ensureNamespaceDir(ctx.hooksDir);
  const dir = path.join(ctx.hooksDir, QMP_SUBDIR);
  mkdirSync(dir, { recursive: true });
  // Owner and group only: in KubeVirt QEMU and the sidecar share uid/gid 107.
  chmodSync(dir, 0o770);
  if (ctx.qmpDirOwner) chownSync(dir, ctx.qmpDirOwner.uid, ctx.qmpDirOwner.gid);
  return dir;
}

/** The pure part of OnDefineDomain: input bytes to output XML and the VM's config. */
export function defineDomain(
  domainXml: string,
  vmiJson: Buffer | string,
  paths: { hooksDir: string; qemuHooksDir: string },
): { xml: string; config: VmConfig } {
  const vmi = parseVmi(vmiJson);
  const parsed = parseDomain(domainXml);
  const guestMemoryBytes = domainMemoryBytes(parsed.domain);
  if (vmi.hugepagesPageSize !== undefined) {
    throw new InputError('vmi.spec.domain.memory.hugepages', `is set (pageSize ${vmi.hugepagesPageSize}); hugepage-backed guest memory cannot be ballooned, so KubeMom does not accept such VMs`);
  }
  const disks = domainDisks(parsed.domain);
  const settings = readSettings(vmi.annotations, guestMemoryBytes, vmi.requestedMemoryBytes, disks.map((d) => d.name));
  const cpu: VmCpu = { vcpus: domainVcpus(parsed.domain) };
  if (vmi.cpuLimitMillicores !== undefined) cpu.limitMillicores = vmi.cpuLimitMillicores;
  if (vmi.cpuRequestMillicores !== undefined) cpu.requestMillicores = vmi.cpuRequestMillicores;
  const socketName = qmpSocketName(vmi.uid);
  const xml = rewriteDomain(parsed, { settings, qmpSocketPath: path.posix.join(paths.qemuHooksDir, QMP_SUBDIR, socketName) });
  const config: VmConfig = {
    identity: { namespace: vmi.namespace, name: vmi.name, uid: vmi.uid },
    guestMemoryBytes,
    settings,
    qmpSocketPath: path.join(paths.hooksDir, QMP_SUBDIR, socketName),
    disks,
    cpu,
  };
  if (vmi.passthroughReason !== undefined) config.observeOnlyReason = vmi.passthroughReason;
  return { xml, config };
}

export function createHookHandlers(ctx: HookContext) {
  const info: grpc.handleUnaryCall<object, object> = (_call, callback) => {
    callback(null, {
      name: HOOK_NAME,
      versions: [...HOOK_VERSIONS],
      hookPoints: HOOK_POINTS.map((name) => ({ name, priority: 0 })),
    });
  };

  const onDefineDomain: grpc.handleUnaryCall<DefineParams, object> = (call, callback) => {
    const input = call.request.domainXML ?? Buffer.alloc(0);
    const started = process.hrtime.bigint();
    let result: { xml: string; config: VmConfig };
    try {
      result = defineDomain(input.toString('utf8'), call.request.vmi ?? Buffer.alloc(0), ctx);
    } catch (error) {
      if (error instanceof InputError) {
        ctx.log.warn({ field: error.field, problem: error.problem }, 'OnDefineDomain rejected its input');
        // Bad input is INVALID_ARGUMENT, too much of it RESOURCE_EXHAUSTED (as gRPC's own message size limit answers).
        callback({ code: error instanceof InputTooLargeError ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.INVALID_ARGUMENT, details: printableAscii(error.message) });
        return;
      }
      // A bug of ours must not stop the VM or corrupt its domain: hand back the input untouched.
      ctx.log.error({ err: error }, 'OnDefineDomain failed internally; returning the domain unchanged');
      callback(null, { domainXML: input });
      return;
    }
    try {
      prepareQmpDirectory(ctx);
    } catch (error) {
      // Without the directory QEMU could not create its socket and the VM would not start.
      ctx.log.error({ err: error, dir: path.join(ctx.hooksDir, QMP_SUBDIR) }, 'cannot prepare the QMP directory; returning the domain unchanged');
      callback(null, { domainXML: input });
      return;
    }
    try {
      saveVmConfig(ctx.hooksDir, result.config);
    } catch (error) {
      ctx.log.warn({ err: error }, 'cannot save the VM config; a restarted sidecar will wait for OnDefineDomain');
    }
    ctx.onVmDefined(result.config);
    ctx.log.info(
      { vmi: `${result.config.identity.namespace}/${result.config.identity.name}`, micros: Number(process.hrtime.bigint() - started) / 1000 },
      'OnDefineDomain rewrote the domain',
    );
    callback(null, { domainXML: Buffer.from(result.xml, 'utf8') });
  };

  const preCloudInitIso: grpc.handleUnaryCall<Record<string, Buffer>, object> = (call, callback) => {
    // Not subscribed in Info; if called anyway, pass everything through unchanged.
    callback(null, { cloudInitNoCloudSource: call.request.cloudInitNoCloudSource, cloudInitData: call.request.cloudInitData });
  };

  const shutdown: grpc.handleUnaryCall<object, object> = (_call, callback) => {
    ctx.log.info('Shutdown received from virt-launcher');
    callback(null, {});
    // Answer first: virt-launcher waits for the reply, then the process leaves.
    setImmediate(() => ctx.onShutdown());
  };

  return { info, onDefineDomain, preCloudInitIso, shutdown };
}
