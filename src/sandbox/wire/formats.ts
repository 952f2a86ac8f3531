import { LedgerError } from '../engine/errors.js';
import type { EventFormat, GetActiveContractsRequest, GetUpdatesRequest, TransactionFormat, UpdateFormat } from './decode/index.js';

/**
 * What a participant makes of a decoded read request before serving it: the backwards-compatible
 * `filter`/`verbose` form turned into formats (JsUpdateService.scala `toGetUpdatesRequest` and
 * `JsUpdateServiceConverters.toUpdateFormat`, JsStateService.scala), then the formats validated
 * (ledger-api-core …/validation/FormatValidator.scala, UpdateServiceRequestValidator.scala,
 * EventQueryServiceRequestValidator.scala, ApiStateService.scala). Errors are the JsCantonErrors
 * those raise, not body-decoding failures: the body decoded fine.
 */

export type Shape = 'TRANSACTION_SHAPE_ACS_DELTA' | 'TRANSACTION_SHAPE_LEDGER_EFFECTS';

export interface ValidTransactionFormat {
  readonly eventFormat: EventFormat;
  readonly transactionShape: Shape;
}

export interface ValidUpdateFormat {
  readonly includeTransactions?: ValidTransactionFormat;
  readonly includeReassignments?: EventFormat;
}

export interface UpdatesQuery {
  readonly beginExclusive: number;
  readonly endInclusive?: number;
  readonly updateFormat: ValidUpdateFormat;
}

export interface AcsQuery {
  readonly activeAtOffset: number;
  readonly eventFormat: EventFormat;
}

function invalidArgument(message: string): LedgerError {
  return LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: ${message}`);
}

export function missingField(name: string): LedgerError {
  return LedgerError.of('MISSING_FIELD', `The submitted command is missing a mandatory field: ${name}`);
}

export function validEventFormat(f: EventFormat): EventFormat {
  if (Object.keys(f.filtersByParty).length === 0 && f.filtersForAnyParty === undefined) {
    throw invalidArgument('filtersByParty and filtersForAnyParty cannot be empty simultaneously');
  }
  return f;
}

export function validTransactionFormat(f: TransactionFormat): ValidTransactionFormat {
  if (f.transactionShape === 'TRANSACTION_SHAPE_UNSPECIFIED') throw missingField('transaction_shape');
  if (f.transactionShape === 'UNRECOGNIZED') throw invalidArgument('transaction_shape is defined with invalid value -1');
  if (f.eventFormat === undefined) throw missingField('event_format');
  return { eventFormat: validEventFormat(f.eventFormat), transactionShape: f.transactionShape };
}

export function validUpdateFormat(f: UpdateFormat | undefined): ValidUpdateFormat {
  if (f === undefined) throw missingField('update_format');
  return {
    ...(f.includeTransactions ? { includeTransactions: validTransactionFormat(f.includeTransactions) } : {}),
    ...(f.includeReassignments ? { includeReassignments: validEventFormat(f.includeReassignments) } : {}),
  };
}

export function requireEventFormat(f: EventFormat | undefined): EventFormat {
  if (f === undefined) throw missingField('event_format');
  return validEventFormat(f);
}

/** POST /v2/updates (flat form, not trees): filter/verbose or updateFormat, never both. */
export function updatesQuery(req: GetUpdatesRequest): UpdatesQuery {
  const range = { beginExclusive: req.beginExclusive, ...(req.endInclusive !== undefined ? { endInclusive: req.endInclusive } : {}) };
  if (req.updateFormat !== undefined) {
    if (req.filter !== undefined) {
      throw invalidArgument(
        'Both update_format and filter are set. Please use either backwards compatible arguments (filter and verbose) or update_format, but not both.',
      );
    }
    if (req.verbose) {
      throw invalidArgument(
        'Both update_format and verbose are set. Please use either backwards compatible arguments (filter and verbose) or update_format, but not both.',
      );
    }
    return { ...range, updateFormat: validUpdateFormat(req.updateFormat) };
  }
  if (req.filter === undefined) {
    throw invalidArgument(
      'Either filter/verbose or update_format is required. Please use either backwards compatible arguments (filter and verbose) or update_format.',
    );
  }
  const eventFormat: EventFormat = {
    filtersByParty: req.filter.filtersByParty,
    ...(req.filter.filtersForAnyParty !== undefined ? { filtersForAnyParty: req.filter.filtersForAnyParty } : {}),
    verbose: req.verbose,
  };
  return {
    ...range,
    updateFormat: validUpdateFormat({
      includeTransactions: { eventFormat, transactionShape: 'TRANSACTION_SHAPE_ACS_DELTA' },
      includeReassignments: eventFormat,
      includeTopologyEvents: undefined,
    }),
  };
}

/** POST /v2/state/active-contracts: filter/verbose or eventFormat, never both. */
export function acsQuery(req: GetActiveContractsRequest): AcsQuery {
  if (req.eventFormat !== undefined) {
    if (req.filter !== undefined) {
      throw invalidArgument(
        'Both event_format and filter are set. Please use either backwards compatible arguments (filter and verbose) or event_format, but not both.',
      );
    }
    if (req.verbose) {
      throw invalidArgument(
        'Both event_format and verbose are set. Please use either backwards compatible arguments (filter and verbose) or event_format, but not both.',
      );
    }
    return { activeAtOffset: req.activeAtOffset, eventFormat: validEventFormat(req.eventFormat) };
  }
  if (req.filter === undefined) {
    throw invalidArgument(
      'Either filter/verbose or event_format is required. Please use either backwards compatible arguments (filter and verbose) or event_format.',
    );
  }
  return {
    activeAtOffset: req.activeAtOffset,
    eventFormat: validEventFormat({
      filtersByParty: req.filter.filtersByParty,
      ...(req.filter.filtersForAnyParty !== undefined ? { filtersForAnyParty: req.filter.filtersForAnyParty } : {}),
      verbose: req.verbose,
    }),
  };
}
