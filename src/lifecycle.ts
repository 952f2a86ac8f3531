/**
 * A long-running part of the daemon (ingestion, a machine runtime, the sandbox...). The daemon
 * starts components in order, stops them in reverse, and reports their state on /health: a
 * component that gave up (retries exhausted, bad data) turns health red instead of spinning.
 */
/**
 * `degraded`: running, but its work is held by a condition outside the daemon (the validator out
 * of synchronizer traffic, src/gates/traffic.ts): not a fault of the daemon, so health stays green.
 */
export type ComponentState = 'starting' | 'running' | 'paused' | 'degraded' | 'stopping' | 'stopped' | 'failed';

export interface ComponentStatus {
  state: ComponentState;
  /**
   * Why it is in that state, for operators; set whenever state is failed or paused (an operator's
   * pause switch included: paused is not a fault, health stays green). May qualify running too.
   */
  detail?: string;
}

export interface Component {
  readonly name: string;
  start(): Promise<void>;
  /** Finish or abandon in-flight work safely and release resources; must be idempotent. */
  stop(): Promise<void>;
  status(): ComponentStatus;
}

export interface HealthReport {
  healthy: boolean;
  components: Record<string, ComponentStatus>;
}

export function healthOf(components: readonly Component[]): HealthReport {
  const statuses = Object.fromEntries(components.map((c) => [c.name, c.status()]));
  return { healthy: Object.values(statuses).every((s) => s.state !== 'failed'), components: statuses };
}
