/** A state value as a path: "a" → ["a"], {a: "b"} → ["a", "b"]. Machines here have no parallel states. */
export function statePath(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value !== null && typeof value === 'object') {
    const [key] = Object.keys(value);
    if (key === undefined) return [];
    return [key, ...statePath((value as Record<string, unknown>)[key])];
  }
  return [];
}

/** "a.b" for {a: "b"}: how states are named in status reasons and logs. */
export function stateName(value: unknown): string {
  return statePath(value).join('.');
}
