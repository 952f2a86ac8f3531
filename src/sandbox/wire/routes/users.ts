import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import type { Right as RightJson, User } from '../../../ledger/schema/index.js';
import { CreateUserRequest, GrantUserRightsRequest, RevokeUserRightsRequest, type Right } from '../decode/index.js';
import { LedgerError, permissionDenied } from '../../engine/errors.js';
import type { UserRecord, UserRight } from '../../engine/ledger.js';
import type { Claims } from '../auth.js';
import { intParam, register, type WireContext } from '../http.js';

export function userJson(u: UserRecord): z.input<typeof User> {
  return {
    id: u.id,
    primaryParty: u.primaryParty ?? '',
    isDeactivated: u.isDeactivated,
    metadata: { resourceVersion: String(u.resourceVersion), annotations: { ...u.annotations } },
    identityProviderId: '',
  };
}

export function rightJson(r: UserRight): z.input<typeof RightJson> {
  switch (r.kind) {
    case 'CanActAs':
      return { kind: { CanActAs: { value: { party: r.party } } } };
    case 'CanReadAs':
      return { kind: { CanReadAs: { value: { party: r.party } } } };
    case 'CanExecuteAs':
      return { kind: { CanExecuteAs: { value: { party: r.party } } } };
    case 'CanReadAsAnyParty':
      return { kind: { CanReadAsAnyParty: { value: {} } } };
    case 'CanExecuteAsAnyParty':
      return { kind: { CanExecuteAsAnyParty: { value: {} } } };
    case 'ParticipantAdmin':
      return { kind: { ParticipantAdmin: { value: {} } } };
    case 'IdentityProviderAdmin':
      return { kind: { IdentityProviderAdmin: { value: {} } } };
  }
}

export function rightFromJson(r: Right): UserRight | undefined {
  const k = r.kind;
  if (!k) return undefined;
  if ('CanActAs' in k) return { kind: 'CanActAs', party: k.CanActAs.value.party };
  if ('CanReadAs' in k) return { kind: 'CanReadAs', party: k.CanReadAs.value.party };
  if ('CanExecuteAs' in k) return { kind: 'CanExecuteAs', party: k.CanExecuteAs.value.party };
  if ('CanReadAsAnyParty' in k) return { kind: 'CanReadAsAnyParty' };
  if ('CanExecuteAsAnyParty' in k) return { kind: 'CanExecuteAsAnyParty' };
  if ('ParticipantAdmin' in k) return { kind: 'ParticipantAdmin' };
  if ('IdentityProviderAdmin' in k) return { kind: 'IdentityProviderAdmin' };
  return undefined;
}

function rightsOf(rs: readonly Right[] | undefined): UserRight[] {
  return (rs ?? []).flatMap((r) => {
    const x = rightFromJson(r);
    return x ? [x] : [];
  });
}

function selfOrAdmin(claims: Claims, userId: string): void {
  if (!claims.isAdmin && claims.userId !== userId) throw permissionDenied(`user ${claims.userId} may not read user ${userId}`);
}

export function userRoutes(app: FastifyInstance, ctx: WireContext): void {
  const { engine } = ctx;
  const users = engine.ledger.users;
  const find = (id: string): UserRecord => {
    const u = users.get(id);
    if (!u) throw LedgerError.of('USER_NOT_FOUND', `User not found: ${id}`, { context: { user_id: id } });
    return u;
  };

  register(app, ctx, {
    method: 'GET',
    url: '/v2/users',
    op: 'listUsers',
    handler: async ({ claims, query }) => {
      claims.requireAdmin();
      const all = [...users.values()].sort((a, b) => a.id.localeCompare(b.id));
      const pageSize = intParam(query['pageSize'], 'pageSize') ?? 1000;
      const start = intParam(query['pageToken'], 'pageToken') ?? 0;
      const next = start + pageSize < all.length ? String(start + pageSize) : '';
      return { users: all.slice(start, start + pageSize).map(userJson), nextPageToken: next };
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/users',
    op: 'createUser',
    body: CreateUserRequest,
    handler: async ({ claims, body }) => {
      claims.requireAdmin();
      // ApiUserManagementService.scala: requirePresence(request.user, "user").
      const user = body.user;
      if (user === undefined) throw LedgerError.of('MISSING_FIELD', 'The submitted command is missing a mandatory field: user');
      const u = engine.createUser(user.id, user.primaryParty || undefined, rightsOf(body.rights), user.metadata?.annotations ?? {});
      if (user.isDeactivated) u.isDeactivated = true;
      return { user: userJson(u) };
    },
  });

  register(app, ctx, {
    method: 'GET',
    url: '/v2/authenticated-user',
    op: 'authenticatedUser',
    handler: async ({ claims }) => ({ user: userJson(claims.user) }),
  });

  register(app, ctx, {
    method: 'GET',
    url: '/v2/users/:userId',
    op: 'getUser',
    handler: async ({ claims, params }) => {
      const id = params['userId'] ?? '';
      selfOrAdmin(claims, id);
      return { user: userJson(find(id)) };
    },
  });

  register(app, ctx, {
    method: 'DELETE',
    url: '/v2/users/:userId',
    op: 'deleteUser',
    handler: async ({ claims, params }) => {
      claims.requireAdmin();
      const id = params['userId'] ?? '';
      find(id);
      users.delete(id);
      return {};
    },
  });

  register(app, ctx, {
    method: 'GET',
    url: '/v2/users/:userId/rights',
    op: 'listUserRights',
    handler: async ({ claims, params }) => {
      const id = params['userId'] ?? '';
      selfOrAdmin(claims, id);
      return { rights: find(id).rights.map(rightJson) };
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/users/:userId/rights',
    op: 'grantUserRights',
    body: GrantUserRightsRequest,
    handler: async ({ claims, params, body }) => {
      claims.requireAdmin();
      const id = params['userId'] ?? body.userId;
      return { newlyGrantedRights: engine.grantRights(id, rightsOf(body.rights)).map(rightJson) };
    },
  });

  register(app, ctx, {
    method: 'PATCH',
    url: '/v2/users/:userId/rights',
    op: 'revokeUserRights',
    body: RevokeUserRightsRequest,
    handler: async ({ claims, params, body }) => {
      claims.requireAdmin();
      const id = params['userId'] ?? body.userId;
      return { newlyRevokedRights: engine.revokeRights(id, rightsOf(body.rights)).map(rightJson) };
    },
  });
}
