import { z } from 'zod';
import { Duration, Int32, opt } from './common.js';

const Supported = z.object({ supported: z.boolean() });

export const FeaturesDescriptor = z.object({
  experimental: z.object({
    staticTime: opt(Supported),
    commandInspectionService: opt(Supported),
  }),
  userManagement: z.object({
    supported: z.boolean(),
    maxRightsPerUser: Int32,
    maxUsersPageSize: Int32,
  }),
  partyManagement: z.object({
    maxPartiesPageSize: Int32,
  }),
  offsetCheckpoint: z.object({
    // Upper bound between checkpoints on an idle stream: the basis for a liveness watchdog.
    maxOffsetCheckpointEmissionDelay: Duration,
  }),
  packageFeature: z.object({
    maxVettedPackagesPageSize: Int32,
  }),
});
export type FeaturesDescriptor = z.infer<typeof FeaturesDescriptor>;

/** GET /v2/version. `version` is the Canton release, e.g. "3.4.12". */
export const GetLedgerApiVersionResponse = z.object({
  version: z.string(),
  features: FeaturesDescriptor,
});
export type GetLedgerApiVersionResponse = z.infer<typeof GetLedgerApiVersionResponse>;
