/** Wire-level settings of a running double (see SandboxOptions for the defaults). */
export interface ServerSettings {
  /** Idle OffsetCheckpoint interval; also reported as maxOffsetCheckpointEmissionDelay. */
  readonly checkpointIntervalMs: number;
  /** http-list-max-elements-limit. */
  readonly maxListElements: number;
  /** Default stream_idle_timeout_ms of the HTTP list endpoints (Canton: http-list-wait-time). */
  readonly listIdleTimeoutMs: number;
  /** Tests: an HTTP list read takes this long to produce its first element (a slow filtered read). */
  readonly listFirstElementDelayMs: number;
  /** Whether the registries want a bearer token, as a validator's Scan proxy does. */
  readonly registryAuth: 'none' | 'ledger-jwt';
}
