/**
 * Loaded in every mocha worker of a parallel run (mocha's `require` option): gives fast-check in that process the
 * run's seed, which the runner chose and put in KUBEMOM_FUZZ_SEED (test/support/fuzz-seed.ts).
 */
import fc from 'fast-check';

const seed = Number(process.env['KUBEMOM_FUZZ_SEED']);
if (process.env['KUBEMOM_FUZZ_SEED'] && Number.isSafeInteger(seed)) fc.configureGlobal({ ...fc.readConfigureGlobal(), seed });

/** No hooks: loading this module is the whole job. */
export const mochaHooks = {};
