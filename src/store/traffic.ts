import type { Queryable } from './db.js';

/** The traffic cost estimate of the transaction a withdrawal's machine signed (sql/021). */
export async function recordTrafficCostEstimate(db: Queryable, withdrawalId: string, bytes: number): Promise<void> {
  await db`update withdrawals set traffic_cost_estimate = ${bytes} where withdrawal_id = ${withdrawalId}`;
}
