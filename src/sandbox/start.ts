import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.js';
import { createLogger } from '../logger.js';
import { SandboxControl } from './control/control.js';
import { SandboxEngine } from './engine/engine.js';
import { DurableLedger, readSavedLedger, replayJournal } from './durable.js';
import { Submissions } from './engine/submissions.js';
import { TrafficAccount } from './engine/traffic.js';
import { createPartyUser, onboardExternalParty } from './onboarding.js';
import { SandboxOptions, type SandboxOptionsInput } from './options.js';
import { generateEd25519, rawPublicKey, signEd25519, type Ed25519KeyPair } from './util/ed25519.js';
import { ed25519Fingerprint } from './util/ids.js';
import { Auth } from './wire/auth.js';
import { FaultInjector } from './wire/faults.js';
import type { WireContext } from './wire/http.js';
import { completionSpec, LiveReader, type UpdateReader } from './wire/reader.js';
import { ReplayReader } from './wire/replay.js';
import { controlRoutes } from './wire/routes/control.js';
import { oauthRoutes, type OAuthClient } from './wire/routes/oauth.js';
import { registryRoutes } from './wire/routes/registry.js';
import { submissionRoutes } from './wire/routes/submission.js';
import { createApp, registerLedgerReadRoutes } from './wire/server.js';
import type { ServerSettings } from './wire/settings.js';
import { WebsocketStreams } from './wire/ws.js';

export interface SandboxInstrumentInfo {
  admin: string;
  id: string;
  name: string;
  symbol: string;
  family: 'amulet' | 'registry';
  /** Base URL of this admin's token registry (append /registry/transfer-instruction/v1/…). */
  registryUrl: string;
  supportsPreapproval: boolean;
  /**
   * What the sender pays on top of a transfer to another party, from the transfer's inputs:
   * flat + rate × amount (FeePolicy senderFlat/senderRate). Onboarding sets it as the instrument's
   * fee reserve, so coin selection covers it.
   */
  senderFee: { flat: string; rate: string };
}

export interface SandboxTreasury {
  party: string;
  userId: string;
  fingerprint: string;
  /** PKCS#8 PEM of the Ed25519 private key (what the daemon's TREASURY_KEY_FILE holds). */
  privateKeyPem: string;
  /** base64 of the raw 32-byte Ed25519 public key. */
  publicKey: string;
}

export interface SandboxInfo {
  jsonApiUrl: string;
  participantId: string;
  synchronizerId: string;
  instruments: SandboxInstrumentInfo[];
  treasury: Omit<SandboxTreasury, 'privateKeyPem'> | undefined;
  adminUserId: string;
  oauth: { tokenUrl: string; clientId: string; clientSecret: string; audience: string };
  controlUrl: string;
  mode: 'live' | 'replay';
}

export interface Sandbox {
  jsonApiUrl: string;
  participantId: string;
  synchronizerId: string;
  instruments: SandboxInstrumentInfo[];
  /** Undefined when started with treasury.onboarding = 'none' (and in replay mode). */
  treasury: SandboxTreasury | undefined;
  adminUserId: string;
  /** A Ledger API JWT for a user (the double signs it; default lifetime tokenLifetimeSeconds). */
  tokenFor(userId: string, opts?: { expiresInSeconds?: number }): Promise<string>;
  oauth: { tokenUrl: string; clientId: string; clientSecret: string; audience: string };
  control: SandboxControl;
  /** The HTTP control API and its bearer token. */
  controlUrl: string;
  controlToken: string;
  engine: SandboxEngine;
  /** Everything above that is safe to print or serve (no private key). */
  info(): SandboxInfo;
  stop(): Promise<void>;
}

/**
 * Starts the ledger double: the JSON Ledger API (HTTP + websockets), the token registries, an
 * OAuth2 token endpoint and the control API on one HTTP server (127.0.0.1, a free port by
 * default). With treasury.onboarding 'http' the treasury is allocated as an external party
 * through the real onboarding endpoints.
 */
export async function startSandbox(input: SandboxOptionsInput = {}, logger?: Logger): Promise<Sandbox> {
  const opts = SandboxOptions.parse(input);
  const log = logger ?? createLogger({ level: 'warn', pretty: false });
  const saved = opts.stateFile !== undefined ? readSavedLedger(opts.stateFile) : undefined;
  const engine = new SandboxEngine({
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    clock: { mode: opts.clock.mode, ...(opts.clock.start !== undefined ? { start: opts.clock.start } : {}) },
    instruments: opts.instruments,
    logger: log,
    roundDurationMs: opts.roundDurationMs,
    ...(saved ? { restore: saved.snapshot } : {}),
  });
  if (saved) replayJournal(engine, saved.journal);
  // Journalling starts once the double is set up (below): what it does until then is in the
  // snapshot that start writes, before anyone outside has seen anything.
  const durable = opts.stateFile !== undefined ? new DurableLedger(engine, opts.stateFile, log, saved?.lastSeq ?? 0) : undefined;
  const audience = `https://daml.com/jwt/aud/participant/${engine.ledger.participantId}`;
  const auth = new Auth(engine.ledger, audience);
  const faults = new FaultInjector(opts.seed);
  const ctx: WireContext = { engine, auth, faults, logger: log };
  const settings: ServerSettings = {
    checkpointIntervalMs: opts.checkpointIntervalMs,
    maxListElements: opts.maxListElements,
    listIdleTimeoutMs: opts.listIdleTimeoutMs,
    listFirstElementDelayMs: opts.listFirstElementDelayMs,
    registryAuth: opts.registryAuth,
  };
  const replay = opts.replay ? new ReplayReader(opts.replay.files) : undefined;
  const reader: UpdateReader = replay ?? new LiveReader(engine);
  const oauthClients: OAuthClient[] = [...opts.oauthClients];
  const controlToken = opts.controlToken ?? randomBytes(24).toString('base64url');
  const tokenFor = (userId: string, o?: { expiresInSeconds?: number }) =>
    auth.issue(userId, { expiresInSeconds: o?.expiresInSeconds ?? opts.tokenLifetimeSeconds });

  const traffic = new TrafficAccount(engine.ledger.participantId, opts.trafficLimit);
  const submissions = new Submissions(engine, {
    traffic,
    commitDelayMs: opts.commitDelayMs,
    maxDeduplicationSeconds: opts.maxDeduplicationSeconds,
    logger: log,
  });
  const ws = new WebsocketStreams({
    ctx,
    reader,
    settings,
    ...(replay
      ? {}
      : { completions: (userId: string, parties: readonly string[], begin: number) => completionSpec(engine, userId, parties, begin) }),
  });
  const control = new SandboxControl(engine, {
    faults,
    holdCommits: () => submissions.hold(),
    releaseCommits: () => submissions.release(),
    dropWebsockets: () => ws.closeAll(),
    traffic,
  });

  let info: () => SandboxInfo = () => {
    throw new Error('not started');
  };
  const app = createApp();
  registerLedgerReadRoutes(app, ctx, reader, settings);
  if (!replay) {
    submissionRoutes(app, ctx, submissions, reader, settings);
    registryRoutes(app, ctx, control.books, settings);
  }
  oauthRoutes(
    app,
    ctx,
    () => oauthClients,
    () => opts.tokenLifetimeSeconds,
  );
  controlRoutes(app, ctx, {
    control,
    token: controlToken,
    info: () => info(),
    tokenFor: (userId, expiresInSeconds) => tokenFor(userId, expiresInSeconds === undefined ? undefined : { expiresInSeconds }),
  });
  ws.attach(app.server);
  await app.listen({ host: opts.host, port: opts.port });
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const jsonApiUrl = `http://${host}:${addr.port}`;
  const stopExpiry = replay ? () => {} : engine.startExpiryAutomation(opts.expiryCheckIntervalMs);

  const stop = async () => {
    stopExpiry();
    submissions.stop();
    ws.closeAll();
    await app.close();
    durable?.stop();
  };

  try {
    let treasury: SandboxTreasury | undefined;
    if (replay) {
      // Reading a recording: a user that may read as every party seen in it.
      const parties = replay.parties().map((p) => engine.addKnownParty(p).party);
      engine.createUser(
        opts.treasury.userId,
        parties[0],
        parties.map((party) => ({ kind: 'CanReadAs' as const, party })),
      );
      oauthClients.push({
        clientId: `${opts.treasury.userId}-client`,
        clientSecret: randomBytes(24).toString('base64url'),
        userId: opts.treasury.userId,
      });
    } else if (saved && engine.ledger.users.get(opts.treasury.userId)?.primaryParty) {
      treasury = restoredTreasury(engine, opts);
      oauthClients.push({
        clientId: `${opts.treasury.userId}-client`,
        clientSecret: randomBytes(24).toString('base64url'),
        userId: opts.treasury.userId,
      });
    } else if (opts.treasury.onboarding !== 'none') {
      treasury = await onboardTreasury(engine, jsonApiUrl, opts, tokenFor);
      if (opts.treasury.preapproval) {
        for (const inst of engine.instruments) if (inst.config.family === 'amulet') engine.createPreapproval(treasury.party, inst);
      }
      for (const f of opts.treasury.fund) control.mint(treasury.party, f.instrument, f.amount);
      oauthClients.push({
        clientId: `${opts.treasury.userId}-client`,
        clientSecret: randomBytes(24).toString('base64url'),
        userId: opts.treasury.userId,
      });
    }
    const oauthClient = oauthClients.find((c) => c.userId === opts.treasury.userId) ??
      oauthClients[0] ?? { clientId: 'admin-client', clientSecret: randomBytes(24).toString('base64url'), userId: 'participant_admin' };
    if (oauthClients.length === 0) oauthClients.push(oauthClient);
    const oauth = {
      tokenUrl: `${jsonApiUrl}/oauth/token`,
      clientId: oauthClient.clientId,
      clientSecret: oauthClient.clientSecret,
      audience,
    };
    const instruments = engine.instruments.map((i) => ({
      admin: i.admin,
      id: i.config.id,
      name: i.config.name,
      symbol: i.config.symbol,
      family: i.config.family,
      registryUrl: `${jsonApiUrl}/registries/${i.config.registry}`,
      supportsPreapproval: i.config.family === 'amulet',
      senderFee: { flat: i.config.fees.senderFlat, rate: i.config.fees.senderRate },
    }));
    durable?.start();
    const controlUrl = `${jsonApiUrl}/sandbox/control`;
    info = () => ({
      jsonApiUrl,
      participantId: engine.ledger.participantId,
      synchronizerId: reader.timeline.synchronizerId,
      instruments,
      treasury: treasury && {
        party: treasury.party,
        userId: treasury.userId,
        fingerprint: treasury.fingerprint,
        publicKey: treasury.publicKey,
      },
      adminUserId: 'participant_admin',
      oauth,
      controlUrl,
      mode: replay ? 'replay' : 'live',
    });
    return {
      jsonApiUrl,
      participantId: engine.ledger.participantId,
      synchronizerId: reader.timeline.synchronizerId,
      instruments,
      treasury,
      adminUserId: 'participant_admin',
      tokenFor,
      oauth,
      control,
      controlUrl,
      controlToken,
      engine,
      info: () => info(),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The treasury of a restored ledger: its user's primary party, with the key the caller kept. */
function restoredTreasury(engine: SandboxEngine, opts: SandboxOptions): SandboxTreasury {
  const party = engine.ledger.users.get(opts.treasury.userId)?.primaryParty ?? '';
  const pem = opts.treasury.privateKeyPem;
  if (!pem) throw new Error('restoring a saved ledger with a treasury needs treasury.privateKeyPem');
  const raw = rawPublicKey(createPublicKey(createPrivateKey(pem)));
  const fingerprint = ed25519Fingerprint(raw);
  if (engine.ledger.parties.get(party)?.external?.fingerprint !== fingerprint) {
    throw new Error(`the given treasury key does not belong to ${party}`);
  }
  return { party, userId: opts.treasury.userId, fingerprint, privateKeyPem: pem, publicKey: raw.toString('base64') };
}

async function onboardTreasury(
  engine: SandboxEngine,
  jsonApiUrl: string,
  opts: SandboxOptions,
  tokenFor: (userId: string) => Promise<string>,
): Promise<SandboxTreasury> {
  const key: Ed25519KeyPair = generateEd25519();
  let party: string;
  if (opts.treasury.onboarding === 'http') {
    const adminToken = await tokenFor('participant_admin');
    party = (await onboardExternalParty(jsonApiUrl, adminToken, engine.ledger.synchronizerId, opts.treasury.hint, key)).partyId;
    await createPartyUser(jsonApiUrl, adminToken, opts.treasury.userId, party);
  } else {
    const proposal = engine.generateTopology(
      opts.treasury.hint,
      key.rawPublicKey,
      'CRYPTO_KEY_FORMAT_RAW',
      'SIGNING_KEY_SPEC_EC_CURVE25519',
    );
    party = engine.allocateExternal(
      proposal.transactions.map((t) => ({ transaction: t, signatures: [] })),
      [
        {
          signature: signEd25519(key.privateKey, proposal.multiHash),
          signedBy: proposal.fingerprint,
          format: 'SIGNATURE_FORMAT_CONCAT',
          algorithm: 'SIGNING_ALGORITHM_SPEC_ED25519',
        },
      ],
    ).party;
    engine.createUser(opts.treasury.userId, party, [
      { kind: 'CanReadAs', party },
      { kind: 'CanExecuteAs', party },
    ]);
  }
  return {
    party,
    userId: opts.treasury.userId,
    fingerprint: ed25519Fingerprint(key.rawPublicKey),
    privateKeyPem: key.privateKeyPem,
    publicKey: key.rawPublicKey.toString('base64'),
  };
}
