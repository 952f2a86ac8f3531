import Table from 'cli-table3';
import type { Difference, InstrumentRef } from './compare.js';
import type { ReconciliationReport } from './run.js';

/** The report as text for a terminal: a totals table per instrument, then every difference. */

const instrumentLabel = (i: InstrumentRef) => `${i.id} (${i.admin})`;

function differenceRow(d: Difference): string[] {
  switch (d.kind) {
    case 'missing':
      return [d.kind, instrumentLabel(d.instrument), d.contractId, '', d.ledgerAmount, 'active on the ledger, not in the database'];
    case 'extra':
      return [d.kind, instrumentLabel(d.instrument), d.contractId, d.dbAmount, '', 'in the database, not active on the ledger'];
    case 'amount':
      return [d.kind, instrumentLabel(d.instrument), d.contractId, d.dbAmount, d.ledgerAmount, 'amounts differ'];
    case 'instrument':
      return [
        d.kind,
        instrumentLabel(d.instrument),
        d.contractId,
        d.dbAmount,
        d.ledgerAmount,
        `the database says ${instrumentLabel(d.dbInstrument)}`,
      ];
    case 'lock':
      return [
        d.kind,
        instrumentLabel(d.instrument),
        d.contractId,
        d.dbLocked ? 'locked' : 'unlocked',
        d.ledgerLocked ? 'locked' : 'unlocked',
        'lock state differs',
      ];
    case 'movements':
      return [d.kind, instrumentLabel(d.instrument), '', d.dbTotal, '', `ingested creates − archives = ${d.movementsTotal}`];
  }
}

export function formatReport(r: ReconciliationReport): string {
  const lines: string[] = [];
  lines.push(`Treasury ${r.treasuryParty} at offset ${r.offset} (record time ${r.recordTime ?? 'unknown'}), checked ${r.checkedAt}`);
  const totals = new Table({
    head: ['instrument', 'db holdings', 'db total', 'ledger holdings', 'ledger total', 'movements (created − archived)', 'differences'],
  });
  for (const i of r.instruments) {
    totals.push([
      instrumentLabel(i.instrument),
      String(i.db.count),
      i.db.total,
      String(i.ledger.count),
      i.ledger.total,
      i.movements.net,
      String(i.differences),
    ]);
  }
  lines.push(r.instruments.length === 0 ? '(no holdings in the database or on the ledger)' : totals.toString());
  if (r.ignoredLedgerHoldings > 0) {
    lines.push(
      `${r.ignoredLedgerHoldings} ledger holding(s) name the treasury but are not its funds (not signed by their admin, or a token not onboarded): see \`cxi deposits list --status ignored\``,
    );
  }
  if (r.clean) {
    lines.push(`CLEAN: the database matches the ledger at offset ${r.offset}.`);
    return lines.join('\n');
  }
  const diffs = new Table({ head: ['kind', 'instrument', 'contract', 'database', 'ledger', 'detail'] });
  for (const d of r.differences) diffs.push(differenceRow(d));
  lines.push(`${r.differences.length} DIFFERENCE(S):`);
  lines.push(diffs.toString());
  return lines.join('\n');
}
