import { createHash, randomBytes } from 'node:crypto';

/**
 * A seedable byte source: SHA-256 over (seed, counter). With a fixed seed every id the double
 * mints and every fault-rate draw repeats run after run, which makes a failing chaos test
 * replayable; without one it is seeded from the OS.
 */
export class Rng {
  private counter = 0n;
  private readonly seed: Buffer;

  constructor(seed?: string) {
    this.seed = seed === undefined ? randomBytes(32) : createHash('sha256').update(`sandbox-seed:${seed}`).digest();
  }

  bytes(n: number): Buffer {
    const chunks: Buffer[] = [];
    let have = 0;
    while (have < n) {
      const c = Buffer.alloc(8);
      c.writeBigUInt64BE(this.counter++);
      const block = createHash('sha256').update(this.seed).update(c).digest();
      chunks.push(block);
      have += block.length;
    }
    return Buffer.concat(chunks).subarray(0, n);
  }

  hex(nBytes: number): string {
    return this.bytes(nBytes).toString('hex');
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.bytes(6).readUIntBE(0, 6) / 2 ** 48;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** A child generator with an independent stream, so one consumer cannot shift another's draws. */
  fork(label: string): Rng {
    return new Rng(`${this.seed.toString('hex')}/${label}`);
  }
}
