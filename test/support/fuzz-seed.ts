/**
 * The seed of every fast-check property in a run. CI runs a fixed seed, so a red build is the code's doing and
 * the same inputs come back on a rerun; a developer's run draws a fresh seed, so fuzzing keeps exploring, and the
 * runner prints it so any failure can be replayed. KUBEMOM_FUZZ_SEED picks one explicitly.
 */

/** The seed CI uses. Changing it is a deliberate choice, reviewed like any other change to the tests. */
export const CI_FUZZ_SEED = 20_261_202;

export interface FuzzSeed {
  seed: number;
  /** Where it came from: `KUBEMOM_FUZZ_SEED`, `CI` or `random`. */
  source: 'KUBEMOM_FUZZ_SEED' | 'CI' | 'random';
}

/** Picks the run's seed from the environment; throws a one-line error for a seed that is not a 32-bit integer. */
export function fuzzSeed(env: NodeJS.ProcessEnv, random: () => number = Math.random): FuzzSeed {
  const given = env['KUBEMOM_FUZZ_SEED'];
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!/^-?\d+$/.test(given.trim()) || !Number.isSafeInteger(seed) || seed < -(2 ** 31) || seed >= 2 ** 31) {
      throw new Error(`KUBEMOM_FUZZ_SEED=${JSON.stringify(given)}: expected an integer from -2147483648 to 2147483647`);
    }
    return { seed, source: 'KUBEMOM_FUZZ_SEED' };
  }
  const ci = env['CI'];
  if (ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0') return { seed: CI_FUZZ_SEED, source: 'CI' };
  return { seed: Math.floor(random() * 2 ** 31), source: 'random' };
}
