import type { Identifier } from './types.js';

/** "packageId:Module.Name:Entity", the form the JSON Ledger API uses for template ids. */
export function formatIdentifier(id: Identifier): string {
  return `${id.packageId}:${id.moduleName}:${id.entityName}`;
}
