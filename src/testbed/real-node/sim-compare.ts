import type { RealNodeResult } from './run.js';
export function simulatorComparison(_results: RealNodeResult[]): string {
  return '(simulator comparison: not yet)';
}
