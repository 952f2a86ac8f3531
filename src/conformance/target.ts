import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LedgerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { ConformanceInstrument, ConformanceSettings } from './settings.js';

/** The ledger and registries one conformance run talks to. */
export interface ConformanceTarget {
  /** For the summary line: the URL, and whether it is the double. */
  readonly description: string;
  readonly ledger: LedgerConfig;
  readonly instruments: readonly ConformanceInstrument[];
  /** Registries this run started itself (the double's, http on loopback): exempt from the registry URL policy. */
  readonly ownRegistryUrls: readonly string[];
  stop(): Promise<void>;
}

export function externalTarget(ledger: LedgerConfig, settings: Pick<ConformanceSettings, 'instruments'>): ConformanceTarget {
  return { description: ledger.apiUrl, ledger, instruments: settings.instruments, ownRegistryUrls: [], stop: async () => {} };
}

/** Two holdings per instrument, so "the smallest" is a choice. */
const FUNDING = [
  { instrument: 'Amulet', amount: '50000' },
  { instrument: 'Amulet', amount: '250' },
  { instrument: 'UTK', amount: '20000' },
  { instrument: 'UTK', amount: '75' },
];

/**
 * The ledger double, started in-process as the daemon's embedded default starts it
 * (startPersistentSandbox: external treasury onboarded over the wire, its key in a file), in a
 * fresh temporary directory removed at stop, with a static token for the treasury's user.
 * No scripted customers: nothing else moves the treasury's holdings during the run.
 */
export async function startDoubleTarget(logger: Logger): Promise<ConformanceTarget> {
  // Loaded only here: a run against a real ledger never touches the double.
  const { startPersistentSandbox } = await import('../sandbox/index.js');
  const dir = await mkdtemp(path.join(tmpdir(), 'cxi-conformance-'));
  try {
    const { sb, keyFile } = await startPersistentSandbox(dir, { treasury: { fund: FUNDING } }, logger);
    const treasury = sb.treasury;
    if (!treasury) {
      await sb.stop();
      throw new Error('the ledger double started without a treasury');
    }
    return {
      description: `${sb.jsonApiUrl} (the ledger double, in-process)`,
      ledger: {
        apiUrl: sb.jsonApiUrl,
        userId: treasury.userId,
        auth: { kind: 'static', token: await sb.tokenFor(treasury.userId) },
        treasuryParty: treasury.party,
        treasuryKeyFile: keyFile,
      },
      instruments: sb.instruments.map((i) => ({ admin: i.admin, id: i.id, registryUrl: i.registryUrl })),
      ownRegistryUrls: sb.instruments.map((i) => i.registryUrl),
      stop: async () => {
        await sb.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
