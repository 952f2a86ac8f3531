import { randomBytes } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { Ledger, UserRecord } from '../engine/ledger.js';
import { permissionDenied, unauthenticated } from '../engine/errors.js';

/**
 * Ledger API authentication as a participant in "unsafe HMAC" mode: HS256 JWTs with a secret the
 * double generates, `sub` = the user id, `aud` = the participant's audience, optional `exp`.
 * The rights come from the user management service, as with Canton's user tokens.
 */
export class Auth {
  readonly secret: Uint8Array;

  constructor(
    private readonly ledger: Ledger,
    readonly audience: string,
    secret?: Uint8Array,
  ) {
    this.secret = secret ?? randomBytes(32);
  }

  async issue(userId: string, opts: { expiresInSeconds?: number; audience?: string } = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ scope: 'daml_ledger_api' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setAudience(opts.audience ?? this.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + (opts.expiresInSeconds ?? 3600))
      .sign(this.secret);
  }

  /** The caller of a request with this bearer token; throws a SecurityError otherwise. */
  async authenticate(token: string | undefined): Promise<Claims> {
    if (token === undefined || token === '') throw unauthenticated('The command is missing a (valid) JWT token');
    let sub: string | undefined;
    try {
      const { payload } = await jwtVerify(token, this.secret, { algorithms: ['HS256'], audience: this.audience });
      sub = payload.sub;
    } catch (e) {
      throw unauthenticated(`invalid token: ${(e as Error).message}`);
    }
    if (!sub) throw unauthenticated('the token has no subject (user id)');
    const user = this.ledger.users.get(sub);
    if (!user || user.isDeactivated) throw permissionDenied(`Could not resolve is_deactivated status for user ${sub}`);
    return new Claims(user);
  }
}

export function bearerOf(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(authorization.trim());
  return m?.[1];
}

/** What the authenticated user may do, from its Ledger API rights. */
export class Claims {
  constructor(readonly user: UserRecord) {}

  get userId(): string {
    return this.user.id;
  }

  private has(kind: string, party?: string): boolean {
    return this.user.rights.some((r) => r.kind === kind && (party === undefined || ('party' in r && r.party === party)));
  }

  get isAdmin(): boolean {
    return this.has('ParticipantAdmin');
  }

  canReadAs(party: string): boolean {
    return this.has('CanReadAs', party) || this.has('CanActAs', party) || this.has('CanReadAsAnyParty');
  }

  canReadAnyParty(): boolean {
    return this.has('CanReadAsAnyParty');
  }

  canActAs(party: string): boolean {
    return this.has('CanActAs', party);
  }

  canExecuteAs(party: string): boolean {
    return this.has('CanExecuteAs', party) || this.has('CanActAs', party) || this.has('CanExecuteAsAnyParty');
  }

  requireAdmin(): void {
    if (!this.isAdmin) throw permissionDenied(`user ${this.userId} is not a participant admin`);
  }

  requireReadAs(parties: Iterable<string>): void {
    for (const p of parties) if (!this.canReadAs(p)) throw permissionDenied(`user ${this.userId} cannot read as ${p}`);
  }

  requireActAs(parties: Iterable<string>): void {
    for (const p of parties) if (!this.canActAs(p)) throw permissionDenied(`user ${this.userId} cannot act as ${p}`);
  }

  requireExecuteAs(parties: Iterable<string>): void {
    for (const p of parties) if (!this.canExecuteAs(p)) throw permissionDenied(`user ${this.userId} cannot execute as ${p}`);
  }

  /** A request naming another user id needs admin rights (Canton: "Claims are only valid for userId"). */
  requireUser(userId: string | undefined): string {
    if (userId === undefined || userId === '' || userId === this.userId) return this.userId;
    if (!this.isAdmin) throw permissionDenied(`Claims are only valid for userId '${this.userId}', actual userId '${userId}'`);
    return userId;
  }
}
