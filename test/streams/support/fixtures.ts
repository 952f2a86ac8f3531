import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseUpdate, type JsTransaction } from '../../../src/ledger/schema/index.js';

export const RECORDED = fileURLToPath(new URL('../../../../shared/fixtures/recorded/', import.meta.url));

export function loadRecorded(file: string): unknown {
  return JSON.parse(readFileSync(path.join(RECORDED, file), 'utf8'));
}

/** The transactions of a recorded file (one element or a list). */
export function recordedTransactions(file: string): JsTransaction[] {
  const raw = loadRecorded(file);
  return (Array.isArray(raw) ? raw : [raw]).map((e) => txOf(e));
}

export function txOf(element: unknown): JsTransaction {
  const u = parseUpdate(element).update;
  if (!('Transaction' in u)) throw new Error('expected a Transaction update');
  return u.Transaction.value;
}

/** Parties as they appear in the recordings. */
export const RECORDED_PARTIES = {
  oneStepTreasury: 'treasury-party::1220278a4a0eb2c244b425dff62853ef1cd04ca1095bffcea465c0de766faf9ab8cd',
  twoStepTreasury: 'treasury-party::12207bd11907b9b3c11ade702d30b556bfe635314d3d0f708f9677e09a4ff096ef87',
  utilitySender: 'test-sender::122073884bbde76324a563e585afc3f3f9cc309d8d28f36424bd899a364f5e0a6fad',
  utilityReceiver: 'test-receiver::122054ada01e6117c91bc34048fdd10e329782e24f8b19e839bbd8a0e6e290d1a3b7',
} as const;

/** The instruments of the recordings: Canton Coin of two networks and the utility registry's LOAD token. */
export const RECORDED_INSTRUMENTS = [
  { admin: 'DSO::12204b8b621ec1dedd51ee2510085f8164cad194953496494d32f541f3f2c170e962', id: 'Amulet' },
  { admin: 'DSO::1220d26d73867a428814de451fdd8e716acf45fe59c6569d76ad77d42270629f3ce9', id: 'Amulet' },
  { admin: 'test-registrar::122002e9e6d1d24cf3fc613d9c6e44919e13f6577b805000f629a773f3817081efc6', id: 'LOAD' },
] as const;
