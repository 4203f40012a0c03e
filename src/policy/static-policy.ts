/**
 * `static`: the no-overcommit-management baseline. It never moves a balloon, so every
 * guest keeps all its memory: what a node does without KubeMom.
 */
import type { Policy } from './types.js';

export type StaticState = Record<string, never>;

export function staticPolicy(): Policy<StaticState> {
  return {
    name: 'static',
    initialState: () => ({}),
    evaluate: (_input, state) => ({ decisions: { balloons: [], ksm: {} }, state }),
  };
}
