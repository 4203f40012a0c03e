/**
 * `static`, also named `observe`: the no-overcommit-management baseline. It never moves a balloon, so every
 * guest keeps all its memory: what a node does without KubeMom. As `observe`, the shim only watches and reports
 * (a safe first step on a new node).
 */
import type { Policy } from './types.js';

export type StaticState = Record<string, never>;

export function staticPolicy(name: 'static' | 'observe' = 'static'): Policy<StaticState> {
  return {
    name,
    passive: true,
    initialState: () => ({}),
    evaluate: (_input, state) => ({ decisions: { balloons: [], ksm: {} }, state }),
  };
}
