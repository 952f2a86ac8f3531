import { z } from 'zod';

/**
 * Canton party ids: `<hint>::<fingerprint>`, the fingerprint a SHA-256 multihash in hex ("1220" +
 * 64 hex digits). Checked strictly at our API boundary: a typo in a receiver must be a 400, not a
 * withdrawal that fails later on the ledger.
 */
export const PARTY_ID_PATTERN = /^[A-Za-z0-9._-]{1,185}::1220[0-9a-f]{64}$/;
export const PartyIdString = z.string().regex(PARTY_ID_PATTERN, 'must be a Canton party id "<hint>::1220<64 hex digits>"');

/**
 * Ids the exchange chooses (withdrawal ids, deposit memos). They travel on the ledger as the
 * transfer's reason and appear in logs, so they are short printable ASCII without spaces.
 */
export const EXTERNAL_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;
export const ExternalId = z.string().regex(EXTERNAL_ID_PATTERN, 'must be 1-128 characters of A-Z a-z 0-9 . _ : @ -');

/** A token: its admin party and the admin's id for it. */
export const InstrumentRef = z.object({
  admin: PartyIdString,
  id: z.string().min(1).max(128),
});
export type InstrumentRef = z.infer<typeof InstrumentRef>;
