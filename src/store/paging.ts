import { z } from 'zod';
import { AppError } from '../errors.js';

/**
 * Opaque keyset cursors: the (time, id) of the last row a page returned, so paging is stable
 * while rows are being inserted (no OFFSET drift).
 */
// Both parts go into SQL as typed parameters: a `t` Postgres cannot read as a timestamptz would be
// a 500, so a tampered cursor is refused here as a 400.
const CursorShape = z.object({ t: z.iso.datetime({ offset: true }), id: z.string().min(1).max(256) }).strict();
export type Cursor = z.infer<typeof CursorShape>;

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function decodeCursor(s: string): Cursor {
  try {
    return CursorShape.parse(JSON.parse(Buffer.from(s, 'base64url').toString('utf8')));
  } catch {
    throw new AppError('VALIDATION_FAILED', 'Invalid cursor', { issues: [{ field: 'cursor', reason: 'not a cursor this API returned' }] });
  }
}
