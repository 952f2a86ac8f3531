import { z } from 'zod';
import { DEFAULT_INSTRUMENTS, InstrumentConfig } from './engine/instruments.js';

export const SandboxOptions = z.object({
  host: z.string().default('127.0.0.1'),
  port: z.int().min(0).max(65535).default(0),
  /** Fixes ids, keys of scripted parties and fault draws across runs. */
  seed: z.string().optional(),
  clock: z
    .object({
      mode: z.enum(['real', 'manual']).default('real'),
      /** Manual mode start (ISO); default: now. */
      start: z.string().optional(),
    })
    .default({ mode: 'real' }),
  instruments: z.array(InstrumentConfig).default(DEFAULT_INSTRUMENTS.map((i) => InstrumentConfig.parse(i))),
  /** Idle OffsetCheckpoint interval (reported as maxOffsetCheckpointEmissionDelay). */
  checkpointIntervalMs: z.int().min(10).default(1000),
  /** http-list-max-elements-limit (Canton's default: 200). */
  maxListElements: z.int().min(1).default(200),
  /** Default stream_idle_timeout_ms of HTTP list reads (Canton's http-list-wait-time: 0.5 s). */
  listIdleTimeoutMs: z.int().min(0).default(500),
  /** Tests: an HTTP list read takes this long to produce its first element, as a slow filtered read on a real node. */
  listFirstElementDelayMs: z.int().min(0).default(0),
  /** Delay between an accepted execute and its commit. */
  commitDelayMs: z.int().min(0).default(25),
  /**
   * The participant's purchased synchronizer traffic in bytes (engine/traffic.ts); absent or null
   * = unlimited. Every Ledger API submission costs its traffic; an exhausted balance refuses them
   * as Canton does. Changed at run time with control.setTraffic / refillTraffic.
   */
  trafficLimit: z.int().min(0).nullable().default(null),
  /** Maximum (and default) deduplication period. */
  maxDeduplicationSeconds: z
    .int()
    .min(1)
    .default(7 * 24 * 3600),
  /** Lifetime of tokens from the OAuth endpoint and tokenFor(). */
  tokenLifetimeSeconds: z.int().min(1).default(3600),
  /**
   * Canton Coin: open a new mining round every this many ms of record time and archive the one
   * two rounds back (a CC transaction signed more than ~2 rounds after prepare fails); 0 = never.
   */
  roundDurationMs: z.int().min(0).default(600_000),
  /** How often a real-time clock checks for expired transfer instructions (and due rounds). */
  expiryCheckIntervalMs: z.int().min(10).default(1000),
  treasury: z
    .object({
      hint: z.string().default('treasury'),
      userId: z.string().default('exchange'),
      /**
       * http: allocate the treasury as an external party through the real onboarding endpoints;
       * direct: the same result without the HTTP round trips; none: no treasury.
       */
      onboarding: z.enum(['http', 'direct', 'none']).default('http'),
      /** Give the treasury a Canton Coin TransferPreapproval (1-step deposits). */
      preapproval: z.boolean().default(true),
      fund: z.array(z.object({ instrument: z.string(), amount: z.string() })).default([]),
      /** With stateFile: the key of the treasury saved in it (the double never stores private keys). */
      privateKeyPem: z.string().optional(),
    })
    .default({ hint: 'treasury', userId: 'exchange', onboarding: 'http', preapproval: true, fund: [] }),
  /**
   * Keep the ledger in this JSON file: loaded at start when it exists (the treasury user found in
   * it is reused, with treasury.privateKeyPem), saved every few seconds and at stop.
   */
  stateFile: z.string().optional(),
  /** Extra OAuth2 client-credentials clients of the token endpoint (one for the treasury user is always added). */
  oauthClients: z.array(z.object({ clientId: z.string().min(1), clientSecret: z.string().min(8), userId: z.string().min(1) })).default([]),
  /**
   * none: the registries are public (Scan, a token admin's registry). ledger-jwt: they accept only
   * a JWT the double's Ledger API would accept (any user), as a validator's Scan proxy does
   * (wire/registry-auth.ts); 401 otherwise.
   */
  registryAuth: z.enum(['none', 'ledger-jwt']).default('none'),
  /** Bearer token for /sandbox/control (default: generated). */
  controlToken: z.string().min(16).optional(),
  /** Serve recorded updates (files as in ../shared/fixtures/recorded) instead of a live ledger. */
  replay: z.object({ files: z.array(z.string()).min(1) }).optional(),
});
export type SandboxOptions = z.infer<typeof SandboxOptions>;
export type SandboxOptionsInput = z.input<typeof SandboxOptions>;
