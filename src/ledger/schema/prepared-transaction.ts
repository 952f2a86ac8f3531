import { z } from 'zod';
import { opt, PartyId } from './common.js';

/**
 * A `PreparedTransaction` protobuf (the base64 `preparedTransaction` of a prepare response) after
 * decoding, in protobuf-JSON form with the proto field names kept (snake_case), as in
 * fixtures/recorded/prepare-response-example.json. NOT a JsPrepareSubmissionResponse.
 *
 * Only the fields present in recorded data are typed; everything is loose because this value is
 * inspected before signing and must never lose data on the way (and proto has more node kinds and
 * metadata fields than we check).
 */

const ProtoIdentifier = z.looseObject({
  package_id: z.string(),
  module_name: z.string(),
  entity_name: z.string(),
});

/** uint64/int64 in proto JSON are strings. */
const ProtoUint64 = z.string().regex(/^\d+$/, 'must be a decimal uint64 string');

export const DecodedCreateNode = z.looseObject({
  lf_version: z.string(),
  contract_id: z.string(),
  package_name: z.string(),
  template_id: ProtoIdentifier,
  argument: z.unknown(),
  signatories: z.array(PartyId),
  stakeholders: z.array(PartyId),
});
export type DecodedCreateNode = z.infer<typeof DecodedCreateNode>;

export const DecodedNode = z.looseObject({
  node_id: z.string(),
  // Versioned node payload ({create} | {exercise} | {fetch} | {rollback}); only create is typed.
  v1: opt(
    z.looseObject({
      create: opt(DecodedCreateNode),
    }),
  ),
});
export type DecodedNode = z.infer<typeof DecodedNode>;

export const DecodedPreparedTransaction = z.looseObject({
  transaction: z.looseObject({
    version: z.string(),
    roots: z.array(z.string()),
    nodes: z.array(DecodedNode),
    node_seeds: opt(z.array(z.looseObject({ node_id: z.int(), seed: z.string() }))),
  }),
  metadata: z.looseObject({
    submitter_info: z.looseObject({
      act_as: z.array(PartyId),
      command_id: z.string(),
    }),
    synchronizer_id: z.string(),
    mediator_group: z.int(),
    transaction_uuid: z.string(),
    // Microseconds since the epoch.
    preparation_time: ProtoUint64,
    input_contracts: z.array(z.unknown()),
    global_key_mapping: opt(z.array(z.unknown())),
    min_ledger_effective_time: opt(ProtoUint64),
    max_ledger_effective_time: opt(ProtoUint64),
    max_record_time: opt(ProtoUint64),
  }),
});
export type DecodedPreparedTransaction = z.infer<typeof DecodedPreparedTransaction>;
