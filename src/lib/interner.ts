/**
 * One shared copy of strings that recur across many objects. JSON.parse gives every occurrence of
 * a ledger identifier (template, interface and package ids, parties) its own copy; objects that
 * are kept a while (queued transactions) then carry hundreds of bytes of duplicates each, which
 * the young-generation GC copies until they are promoted.
 *
 * Bounded: once `capacity` distinct strings are held it starts over, so a stream of ever new
 * values (every customer's party) cannot grow it without limit. Only pass values that recur.
 */
export class Interner {
  private readonly copies = new Map<string, string>();

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`Interner capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.copies.size;
  }

  intern(s: string): string {
    const copy = this.copies.get(s);
    if (copy !== undefined) return copy;
    if (this.copies.size >= this.capacity) this.copies.clear();
    this.copies.set(s, s);
    return s;
  }

  internAll(xs: readonly string[]): string[] {
    return xs.map((x) => this.intern(x));
  }
}
