import { z } from 'zod';

/** Shapes shared by several routes; each is the single source of its type, validation and OpenAPI. */

export const ErrorResponse = z
  .object({
    code: z.string().describe('Stable error code from the catalogue'),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
  })
  .describe('Every error response');

export const Amount = z.string().describe('Decimal string, up to 10 fractional digits');
export const Timestamp = z.string().describe('ISO-8601 UTC timestamp (microsecond precision)');
export const Instrument = z.object({
  admin: z.string().describe('Instrument admin party'),
  id: z.string().describe('Instrument id, e.g. "Amulet"'),
});

export const PageQuery = {
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(512).optional().describe('nextCursor of the previous page'),
};

/** Standard error responses to list on a route, so the OpenAPI document shows them. */
export const errorResponses = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, ErrorResponse]));
