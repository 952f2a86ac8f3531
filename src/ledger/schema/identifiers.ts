/**
 * Template/interface identifiers come in two forms:
 *   package-id form   "<64-hex package id>:Module.Path:Entity"  — every id the server emits
 *   package-name form "#<package-name>:Module.Path:Entity"      — what clients send
 * The package id changes with every package upgrade, so events are matched on module + entity
 * (and on the event's separate `packageName` field when the caller has it), never on the id.
 */
export interface ParsedIdentifier {
  /** Set for the package-id form. */
  readonly packageId?: string;
  /** Set for the package-name form. */
  readonly packageName?: string;
  readonly moduleName: string;
  readonly entityName: string;
}

const PACKAGE_ID = /^[0-9a-f]{64}$/;

export function parseIdentifier(id: string): ParsedIdentifier {
  const parts = id.split(':');
  const [pkg, moduleName, entityName] = parts;
  if (parts.length !== 3 || !pkg || !moduleName || !entityName) {
    throw new Error(`malformed identifier "${id}": expected "<package>:<Module.Path>:<Entity>"`);
  }
  if (pkg.startsWith('#')) {
    const packageName = pkg.slice(1);
    if (!packageName) throw new Error(`malformed identifier "${id}": empty package name`);
    return { packageName, moduleName, entityName };
  }
  if (!PACKAGE_ID.test(pkg)) {
    throw new Error(`malformed identifier "${id}": package must be 64 hex digits or "#<package-name>"`);
  }
  return { packageId: pkg, moduleName, entityName };
}

/**
 * Does an identifier the server emitted (usually package-id form) denote the same template or
 * interface as `wanted` (usually package-name form)? Module and entity must be equal; package
 * names are compared when both sides know one (`emittedPackageName` is the event's
 * `packageName`, which names the *template's* package — pass it only when matching templateId).
 * Two package-id forms must agree on the package id. Malformed input never matches.
 */
export function identifierMatches(emitted: string, wanted: string, emittedPackageName?: string): boolean {
  let a: ParsedIdentifier;
  let b: ParsedIdentifier;
  try {
    a = parseIdentifier(emitted);
    b = parseIdentifier(wanted);
  } catch {
    return false;
  }
  if (a.moduleName !== b.moduleName || a.entityName !== b.entityName) return false;
  if (a.packageId !== undefined && b.packageId !== undefined) return a.packageId === b.packageId;
  const nameA = a.packageName ?? emittedPackageName;
  if (nameA !== undefined && b.packageName !== undefined) return nameA === b.packageName;
  return true;
}

/**
 * Same module and entity, whatever the package. The server emits interface ids (e.g. in
 * `interfaceViews`) in package-id form with no package name beside them, so this is all that can
 * be compared there; normalised test data also uses placeholder package names.
 */
export function sameQualifiedName(a: string, b: string): boolean {
  try {
    const x = parseIdentifier(a);
    const y = parseIdentifier(b);
    return x.moduleName === y.moduleName && x.entityName === y.entityName;
  } catch {
    return false;
  }
}
