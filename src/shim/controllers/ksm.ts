/** The KSM controller's part of a cycle: the policy's advisor mode and KSM settings, written through src/shim/ksm.ts. */
import type { Logger } from '../../common/log.js';
import type { PolicyDecisions } from '../../policy/types.js';
import type { KsmController } from '../ksm.js';

export function actuateKsm(decisions: PolicyDecisions, ksm: KsmController | undefined, nowMs: number, log: Logger): void {
  if (!ksm) return;
  if (decisions.ksmAdvisorMode !== undefined && ksm.setAdvisorMode(decisions.ksmAdvisorMode, nowMs)) {
    log.info({ advisorMode: decisions.ksmAdvisorMode }, 'KSM advisor mode applied');
  }
  if (Object.keys(decisions.ksm).length > 0) {
    const applied = ksm.apply(decisions.ksm, nowMs);
    if (Object.keys(applied.written).length > 0) log.info({ written: applied.written }, 'KSM settings applied');
  }
}
