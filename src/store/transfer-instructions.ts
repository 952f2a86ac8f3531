import type { Queryable } from './db.js';

/**
 * The holdings a transfer instruction locked, as ingestion recorded them (the instruction's
 * TransferInstruction view: transfer.inputHoldingCids); undefined when ingestion has not seen it.
 * A withdraw of the instruction consumes exactly these besides the instruction.
 */
export async function lockedHoldingsOfInstruction(db: Queryable, contractId: string): Promise<string[] | undefined> {
  const [row] = await db<
    { locked_holding_cids: string[] }[]
  >`select locked_holding_cids from transfer_instructions where contract_id = ${contractId}`;
  return row?.locked_holding_cids;
}
