import fc from 'fast-check';

/**
 * Property tests run with one fixed seed unless FC_SEED says otherwise, so a CI run is
 * reproducible and a red run can be replayed exactly. Explore new inputs with
 * `FC_SEED=random npm test` (the seed of a failure is in its report) and replay with
 * `FC_SEED=<seed>`.
 */
const DEFAULT_SEED = 20261127;

function seedFromEnv(raw: string | undefined): number | undefined {
  if (raw === 'random') return undefined;
  if (raw === undefined || raw === '') return DEFAULT_SEED;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`FC_SEED must be an integer or "random", got ${JSON.stringify(raw)}`);
  return n;
}

const seed = seedFromEnv(process.env.FC_SEED);
if (seed !== undefined) fc.configureGlobal({ ...fc.readConfigureGlobal(), seed });
