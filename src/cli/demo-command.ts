/**
 * `kubemom demo`: the main job on an embedded default, no cluster needed. Starts a
 * real sidecar on a KubeVirt-style hook directory, plays virt-launcher against it
 * over gRPC with the bundled KubeVirt VMI and domain, and shows what changed.
 */
import type { Command } from 'commander';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../common/paths.js';
import { runSidecar } from '../hook-sidecar/sidecar.js';
import { discoverHooks, onDefineDomain, shutdownHooks } from '../testbed/hook-manager.js';

function memoryLines(xml: string): string[] {
  const lines = xml.split('\n');
  return lines.filter((l) => /memballoon|<stats|qemu:commandline|qemu:arg/.test(l)).map((l) => l.trim());
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a sidecar and play virt-launcher against it with the bundled KubeVirt VMI (no cluster needed)')
    .action(async () => {
      process.env.KUBEMOM_LOG_LEVEL ??= 'warn';
      const root = mkdtempSync(path.join(os.tmpdir(), 'kubemom-demo-'));
      const hooksDir = path.join(root, 'hook-sidecar-0');
      const domain = readFileSync(path.join(packageRoot, 'fixtures', 'kubevirt-domain.xml'), 'utf8');
      const vmi = readFileSync(path.join(packageRoot, 'fixtures', 'kubevirt-vmi.json'), 'utf8');
      const sidecar = await runSidecar({ hooksDir, qemuHooksDir: hooksDir });
      try {
        const hooks = await discoverHooks(root, 1);
        for (const hook of hooks) {
          console.log(`found hook ${path.relative(root, hook.socketPath)}: name=${hook.name} version=${hook.version} points=${hook.hookPoints.join(',')}`);
        }
        let xml = domain;
        for (let call = 1; call <= 3; call++) xml = await onDefineDomain(hooks, xml, vmi);
        console.log('\nOnDefineDomain (called 3 times, as virt-launcher may) added:');
        for (const line of memoryLines(xml)) console.log(`  ${line}`);
        console.log(`\ninput ${domain.length} bytes -> output ${xml.length} bytes; third call byte-identical to the first: ${xml === (await onDefineDomain(hooks, xml, vmi))}`);
        await shutdownHooks(hooks);
        await sidecar.stopped;
        console.log('Shutdown answered; sidecar stopped.');
      } finally {
        await sidecar.stop('demo finished');
        rmSync(root, { recursive: true, force: true });
      }
    });
}
