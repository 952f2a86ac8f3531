import { z } from 'zod';

/**
 * Canton party ids: `<hint>::<fingerprint>` (UniqueIdentifier, community/base/src/main/scala/com/
 * digitalasset/canton/topology/Identifier.scala in Canton 3.4). The hint is a Daml-LF party string
 * (letters, digits, space, ':', '-', '_'; no '.') of at most 185 characters without the "::"
 * delimiter, and cannot end in ':' (the delimiter would then start a character earlier); the
 * fingerprint is what Canton derives from a public key, a SHA-256 multihash in hex ("1220" + 64
 * hex digits). Checked strictly at our API boundary: a receiver that cannot exist is a 400, not a
 * withdrawal that fails later on the ledger.
 */
export const PARTY_ID_PATTERN = /^(?=[^]{1,185}::1220[0-9a-f]{64}$):?[A-Za-z0-9_ -]+(?::[A-Za-z0-9_ -]+)*::1220[0-9a-f]{64}$/;
export const PartyIdString = z
  .string()
  .regex(
    PARTY_ID_PATTERN,
    'must be a Canton party id "<hint>::1220<64 hex digits>", the hint of letters, digits, space, "-", "_" and single ":" (at most 185)',
  );

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
