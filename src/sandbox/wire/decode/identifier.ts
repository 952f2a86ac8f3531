import { refined, str, type Codec } from './codec.js';

/**
 * A template or interface identifier as the double reads it. Canton's JSON API splits the string
 * on ":" into exactly three parts while decoding the body (IdentifierConverter.fromJson in
 * ProtocolConverters.scala); a package part starting with "#" is a package-name reference, which
 * is resolved later (TranscodePackageIdResolver.scala), anything else a package id.
 */
export interface ParsedIdentifier {
  readonly packageId?: string;
  readonly packageName?: string;
  readonly moduleName: string;
  readonly entityName: string;
}

/** Java's String.split drops trailing empty strings; "a:b:" has two parts, not three. */
function javaSplit(s: string, sep: string): string[] {
  const parts = s.split(sep);
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

export function identifierShapeProblem(id: string): string | undefined {
  return javaSplit(id, ':').length === 3 ? undefined : `Expected <package>:<moduleName>:<entityName>, got ${id}`;
}

/** `com.daml.ledger.api.v2.value.Identifier` in a request body: a three-part string. */
export const identifier: Codec<string> = refined(str, identifierShapeProblem);

export function parseIdentifier(id: string): ParsedIdentifier {
  const problem = identifierShapeProblem(id);
  if (problem !== undefined) throw new Error(problem);
  const [pkg = '', moduleName = '', entityName = ''] = javaSplit(id, ':');
  return pkg.startsWith('#') ? { packageName: pkg.slice(1), moduleName, entityName } : { packageId: pkg, moduleName, entityName };
}
