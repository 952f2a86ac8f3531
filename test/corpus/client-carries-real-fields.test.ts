import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { of, type Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { createLedgerHoldingsSource } from '../../src/admin/reconciliation/ledger-holdings.js';
import { LedgerHttp } from '../../src/ledger/http.js';
import { treasuryUpdateFormat } from '../../src/ledger/read-client.js';
import { createLogger } from '../../src/logger.js';
import {
  createDepositLedgerActors,
  createLedgerEffects,
  createWithdrawalLedgerActors,
  type LedgerEffects,
} from '../../src/machines/effects/index.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { updatesSource } from '../../src/streams/source.js';
import { startStack, type Stack } from '../support/stack.js';
import { coverage } from './key-paths.js';
import { OPERATIONS, realRequests, type Operation } from './real-requests.js';
import { TEST_REGISTRY_POLICY } from '../support/registry-policy.js';

/**
 * For every operation of the corpus of real requests (test/fixtures/real-requests), the request
 * the CLIENT sends — captured from its real code paths against the ledger double: the withdrawal
 * and deposit effects, the update stream (HTTP and websocket), reconciliation's ACS read, the
 * registry client — carries every key path the real body has, at every nesting level and in
 * array elements (key-paths.ts: map keys as `*`; a oneof variant the client does not choose is
 * another choice, not a missing field).
 */

const SILENT = createLogger({ level: 'silent', pretty: false });
const signal = new AbortController().signal;

interface Sent {
  method: string;
  path: string;
  body: unknown;
  /** The response has arrived. */
  answered: boolean;
}

/** What the daemon never sends: no code path builds these requests (see the README of the corpus). */
const NOT_SENT_BY_CLIENT: Partial<Record<Operation, string>> = {
  completions: 'LedgerSubmissionClient.completions takes its request from the caller, and no caller exists',
  'grant-user-rights': 'users are created with their rights (src/sandbox/onboarding.ts); rights are never granted later',
};

/**
 * Which captured client request each operation's real bodies are held against. The prepare of
 * a deposit accept exercises another choice (TransferInstruction_Accept), so only the real
 * prepare's envelope is held against it; its TransferFactory_Transfer argument is compared with
 * the withdrawal's.
 */
const PAIRS = [
  { operation: 'prepare', client: 'prepare (withdrawal, TransferFactory_Transfer)' },
  { operation: 'prepare', client: 'prepare (deposit, TransferInstruction_Accept)', envelopeOnly: true },
  { operation: 'execute', client: 'execute (effects, execute: async)' },
  { operation: 'execute-and-wait', client: 'executeAndWait (effects, default)' },
  { operation: 'updates', client: 'updates over HTTP (stream source)' },
  { operation: 'updates', client: 'updates, websocket first frame (stream source)' },
  { operation: 'update-by-id', client: 'update-by-id (read client, treasury update format)' },
  { operation: 'events-by-contract-id', client: 'events-by-contract-id (deposit effects, instruction lookup)' },
  { operation: 'active-contracts', client: 'active-contracts (reconciliation)' },
  { operation: 'generate-topology', client: 'generate-topology (sandbox onboarding)' },
  { operation: 'allocate-external-party', client: 'allocate (sandbox onboarding)' },
  { operation: 'create-user', client: 'create-user (sandbox onboarding)' },
  { operation: 'transfer-factory', client: 'transfer-factory (withdrawal effects)' },
  { operation: 'choice-context-accept', client: 'accept context (deposit effects)' },
  { operation: 'choice-context-reject', client: 'reject context (registry client)' },
  { operation: 'choice-context-withdraw', client: 'withdraw context (registry client)' },
] as const satisfies readonly { operation: Operation; client: string; envelopeOnly?: true }[];

/** A label naming the client's code path that sent the request. */
type ClientRequest = (typeof PAIRS)[number]['client'];

/** A copy of a prepare body without its commands' choice arguments. */
function withoutChoiceArguments(body: unknown): unknown {
  const copy = structuredClone(body) as { commands?: { ExerciseCommand?: { choiceArgument?: unknown } }[] };
  for (const c of copy.commands ?? []) delete c.ExerciseCommand?.choiceArgument;
  return copy;
}

const realFetch = globalThis.fetch;

/** A fetch that keeps every JSON body it sends, then sends it with `send`. */
function recorder(into: Sent[], send: typeof fetch = realFetch): typeof fetch {
  return async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    if (typeof init?.body !== 'string') return send(input, init);
    const sent: Sent = { method: init.method ?? 'GET', path: url.pathname, body: JSON.parse(init.body) as unknown, answered: false };
    into.push(sent);
    try {
      return await send(input, init);
    } finally {
      sent.answered = true;
    }
  };
}

function lastTo(sent: Sent[], path: RegExp): unknown {
  const hit = [...sent].reverse().find((s) => s.method === 'POST' && path.test(s.path));
  if (!hit) throw new Error(`the client sent nothing to ${String(path)}; it sent ${sent.map((s) => s.path).join(', ')}`);
  return hit.body;
}

async function settle(p: Promise<unknown>): Promise<void> {
  await p.catch(() => undefined);
}

async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Forwards websockets to the double and keeps the first frame each client sends. */
async function recordingWebsocketProxy(targetBaseUrl: string): Promise<{ url: string; firstFrames: string[]; close(): Promise<void> }> {
  const firstFrames: string[] = [];
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server, handleProtocols: (protocols) => (protocols.has('daml.ws.auth') ? 'daml.ws.auth' : false) });
  wss.on('connection', (client, req) => {
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    const upstream = new WebSocket(targetBaseUrl.replace(/^http/, 'ws') + (req.url ?? ''), protocols);
    const pending: { data: RawData; binary: boolean }[] = [];
    let first = true;
    client.on('message', (data: RawData, binary: boolean) => {
      if (first) firstFrames.push(data.toString());
      first = false;
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary });
      else pending.push({ data, binary });
    });
    upstream.on('open', () => {
      for (const p of pending.splice(0)) upstream.send(p.data, { binary: p.binary });
    });
    upstream.on('message', (data: RawData, binary: boolean) => client.send(data, { binary }));
    upstream.on('close', () => client.close());
    client.on('close', () => upstream.close());
    upstream.on('error', () => client.terminate());
    client.on('error', () => upstream.terminate());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    firstFrames,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('the client’s requests carry every field the real requests of the corpus carry', () => {
  const captured: Partial<Record<ClientRequest, unknown>> = {};
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ daemon: false });
    const sent: Sent[] = [];
    const fetchRecorder = recorder(sent);
    const fx: LedgerEffects = createLedgerEffects({
      sql: stack.sql,
      ledger: stack.ledger,
      registryPolicy: TEST_REGISTRY_POLICY,
      logger: SILENT,
      options: { fetch: fetchRecorder },
    });
    const fxAsync = createLedgerEffects({
      sql: stack.sql,
      ledger: stack.ledger,
      registryPolicy: TEST_REGISTRY_POLICY,
      logger: SILENT,
      signer: fx.signer,
      options: { fetch: fetchRecorder, execute: 'async' },
    });
    const wd = createWithdrawalLedgerActors({ effects: fx });
    const dep = createDepositLedgerActors({ effects: fx });
    const ledgerNow = () => Date.parse(stack.sandbox.control.clockNow().time);
    const deadline = () => new Date(ledgerNow() + 600_000).toISOString();

    // A withdrawal, as the withdrawal machine runs it: factory, prepare, verify + sign, execute.
    const bob = stack.customer({ preapproval: true });
    const before = new Set(stack.sandbox.control.books.holdings(stack.treasury).map((h) => h.contractId));
    stack.sandbox.control.mint(stack.treasury, stack.cc.id, '100');
    const input = stack.sandbox.control.books.holdings(stack.treasury).find((h) => !before.has(h.contractId))?.contractId;
    if (!input) throw new Error('mint created no holding');
    const now = ledgerNow();
    const intent = {
      withdrawalId: 'corpus-1',
      attempt: 1,
      sender: stack.treasury,
      receiver: bob,
      amount: '10.0000000000',
      instrument: { admin: stack.cc.admin, id: stack.cc.id },
      inputHoldingCids: [input],
      requestedAt: new Date(now - 1000).toISOString(),
      executeBefore: new Date(now + 3_600_000).toISOString(),
      memo: 'corpus-1',
    };
    const factory = await wd.fetchTransferFactory(intent, signal);
    captured['transfer-factory (withdrawal effects)'] = lastTo(sent, /\/registry\/transfer-instruction\/v1\/transfer-factory$/);
    const commandId = 'withdrawal-corpus-1-1';
    const maxRecordTime = deadline();
    const prepared = await wd.prepareTransfer({ ...intent, factory, commandId, maxRecordTime }, signal);
    captured['prepare (withdrawal, TransferFactory_Transfer)'] = lastTo(sent, /^\/v2\/interactive-submission\/prepare$/);
    const signed = await wd.verifyAndSign(
      {
        prepared,
        expected: {
          kind: 'transfer',
          commandId,
          factoryId: factory.factoryId,
          sender: intent.sender,
          receiver: bob,
          amount: intent.amount,
          instrument: intent.instrument,
          inputHoldingCids: intent.inputHoldingCids,
          memo: intent.memo,
          executeBefore: intent.executeBefore,
          maxRecordTime,
        },
      },
      signal,
    );
    await settle(wd.executeSubmission({ submissionId: 'corpus-1-a', signed }, signal));
    captured['executeAndWait (effects, default)'] = lastTo(sent, /^\/v2\/interactive-submission\/executeAndWait$/);
    // Again in async mode (the ledger answers that it already has the command: the body is what counts).
    await settle(createWithdrawalLedgerActors({ effects: fxAsync }).executeSubmission({ submissionId: 'corpus-1-b', signed }, signal));
    captured['execute (effects, execute: async)'] = lastTo(sent, /^\/v2\/interactive-submission\/execute$/);

    // A 2-step deposit, as the deposit machine runs it: accept context, prepare the accept.
    const alice = stack.customer({ fund: [{ instrument: 'UTK', amount: '100' }] });
    const offer = stack.sandbox.control.transfer({
      from: alice,
      to: stack.treasury,
      instrument: 'UTK',
      amount: '5',
      memo: 'corpus-deposit',
      mode: 'offer',
    });
    const cid = offer.transferInstructionCid;
    if (!cid) throw new Error('the double made no transfer instruction');
    const utk = { admin: stack.utk.admin, id: stack.utk.id };
    const context = await dep.fetchAcceptContext({ depositId: cid, transferInstructionCid: cid, instrument: utk }, signal);
    captured['accept context (deposit effects)'] = lastTo(sent, /\/choice-contexts\/accept$/);
    await dep.prepareAccept(
      {
        depositId: cid,
        transferInstructionCid: cid,
        instrument: utk,
        actAs: stack.treasury,
        context,
        commandId: `deposit-accept-${cid}`,
        maxRecordTime: deadline(),
      },
      signal,
    );
    captured['prepare (deposit, TransferInstruction_Accept)'] = lastTo(sent, /^\/v2\/interactive-submission\/prepare$/);
    // The registry clients' other choice contexts (no daemon path asks for them yet).
    const registry = fx.registries.client(await fx.registries.instrument(utk));
    await settle(registry.choiceContext(cid, 'reject', {}, signal));
    captured['reject context (registry client)'] = lastTo(sent, /\/choice-contexts\/reject$/);
    await settle(registry.choiceContext(cid, 'withdraw', {}, signal));
    captured['withdraw context (registry client)'] = lastTo(sent, /\/choice-contexts\/withdraw$/);
    // A registry that does not know an instruction makes the deposit effects look it up on the ledger.
    const unknown = `00${'ab'.repeat(32)}ca111220${'cd'.repeat(32)}`;
    await settle(dep.fetchAcceptContext({ depositId: unknown, transferInstructionCid: unknown, instrument: utk }, signal));
    captured['events-by-contract-id (deposit effects, instruction lookup)'] = lastTo(sent, /^\/v2\/events\/events-by-contract-id$/);

    // Point reads and the ACS.
    await settle(fx.reads.updateById(offer.updateId, treasuryUpdateFormat(stack.treasury), signal));
    captured['update-by-id (read client, treasury update format)'] = lastTo(sent, /^\/v2\/updates\/update-by-id$/);
    const holdings = createLedgerHoldingsSource({
      reads: fx.reads,
      baseUrl: stack.ledger.apiUrl,
      auth: fx.reads.http.auth,
      treasury: stack.treasury,
    });
    await holdings.treasuryHoldingsAt(stack.sandbox.control.books.ledgerEnd().offset);
    captured['active-contracts (reconciliation)'] = lastTo(sent, /^\/v2\/state\/active-contracts$/);

    // The update stream as ingestion opens it: HTTP polling, then the websocket through a recording proxy.
    const retry = { maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 10, jitter: 0 };
    let subscription: Subscription = updatesSource({
      http: fx.reads.http,
      client: fx.reads,
      party: stack.treasury,
      transport: 'http',
      resumeOffset: () => 0,
      paused$: of(false),
      retry,
    }).subscribe({ error: () => undefined });
    try {
      // Answered, not only sent: a request cut mid-flight keeps the double's server from closing.
      await until('an answered HTTP /v2/updates request', () => sent.some((s) => s.path === '/v2/updates' && s.answered));
    } finally {
      subscription.unsubscribe();
    }
    captured['updates over HTTP (stream source)'] = lastTo(sent, /^\/v2\/updates$/);
    const proxy = await recordingWebsocketProxy(stack.ledger.apiUrl);
    try {
      const viaProxy = new LedgerHttp({ baseUrl: proxy.url, auth: fx.reads.http.auth });
      subscription = updatesSource({
        http: viaProxy,
        client: fx.reads,
        party: stack.treasury,
        transport: 'websocket',
        resumeOffset: () => 0,
        paused$: of(false),
        retry,
      }).subscribe({ error: () => undefined });
      try {
        await until('the websocket’s first frame', () => proxy.firstFrames.length > 0);
      } finally {
        subscription.unsubscribe();
      }
      captured['updates, websocket first frame (stream source)'] = JSON.parse(proxy.firstFrames[0] ?? 'null') as unknown;
    } finally {
      await proxy.close();
    }

    // Party and user onboarding: only the double's start-up sends these (src/sandbox/onboarding.ts).
    const onboarding: Sent[] = [];
    vi.spyOn(globalThis, 'fetch').mockImplementation(recorder(onboarding, realFetch));
    let sb: Sandbox | undefined;
    try {
      sb = await startSandbox({ seed: 'corpus-onboarding', clock: { mode: 'manual', start: '2026-01-01T00:00:00Z' } }, SILENT);
    } finally {
      vi.restoreAllMocks();
      await sb?.stop();
    }
    captured['generate-topology (sandbox onboarding)'] = lastTo(onboarding, /^\/v2\/parties\/external\/generate-topology$/);
    captured['allocate (sandbox onboarding)'] = lastTo(onboarding, /^\/v2\/parties\/external\/allocate$/);
    captured['create-user (sandbox onboarding)'] = lastTo(onboarding, /^\/v2\/users$/);
  });
  afterAll(async () => {
    await stack.close();
  });

  it('holds every operation of the corpus against a client request, or says why the client never sends it', () => {
    for (const op of OPERATIONS) {
      const paired = PAIRS.some((p) => p.operation === op);
      expect(paired || NOT_SENT_BY_CLIENT[op] !== undefined, `${op}: neither paired with a client request nor listed as never sent`).toBe(
        true,
      );
    }
  });

  for (const pair of PAIRS) {
    for (const real of realRequests(pair.operation)) {
      it(`${pair.operation}: ${real.file} vs ${pair.client}`, () => {
        const client = captured[pair.client];
        expect(client, `no client request captured for ${pair.client}`).toBeDefined();
        const body = 'envelopeOnly' in pair ? withoutChoiceArguments(real.body) : real.body;
        const { missing, otherVariants } = coverage(body, client);
        const note = otherVariants.length > 0 ? ` (the real body also chose other oneof variants: ${otherVariants.join(', ')})` : '';
        expect(
          missing,
          `${pair.operation}: the client's request (${pair.client}) lacks what ${real.file} carries: ${missing.join(', ')}${note}`,
        ).toEqual([]);
      });
    }
  }
});
