import { z } from 'zod';
import type { Contract, Payload } from './types.js';

/**
 * createdEventBlob: on a real node a serialized FatContractInstance, opaque to clients. The double
 * writes a small binary envelope (a protobuf-like tag, a version marker, then the contract as
 * JSON) so that it can recognise the blobs it handed out when they come back as disclosed
 * contracts. Clients must treat it as opaque bytes, as with a real node.
 */
const MAGIC = Buffer.from([0x0a, 0x07, ...Buffer.from('sbx-fci')]);

const BlobContent = z.object({
  contractId: z.string(),
  createdAt: z.string(),
  payload: z.looseObject({ t: z.string() }),
});

export function encodeBlob(c: Contract): string {
  const json = Buffer.from(JSON.stringify({ contractId: c.contractId, createdAt: c.createdAt, payload: c.payload }));
  return Buffer.concat([MAGIC, json]).toString('base64');
}

/** The contract a blob describes, or undefined when it is not one of ours. */
export function decodeBlob(blob: string): Contract | undefined {
  try {
    const bytes = Buffer.from(blob, 'base64');
    if (bytes.length <= MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    const parsed = BlobContent.safeParse(JSON.parse(bytes.subarray(MAGIC.length).toString('utf8')));
    if (!parsed.success) return undefined;
    return { contractId: parsed.data.contractId, createdAt: parsed.data.createdAt, payload: parsed.data.payload as unknown as Payload };
  } catch {
    return undefined;
  }
}
