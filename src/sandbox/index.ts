export { startSandbox, type Sandbox, type SandboxInfo, type SandboxInstrumentInfo, type SandboxTreasury } from './start.js';
export { startPersistentSandbox, type PersistentSandbox } from './persistent.js';
export { embeddedSandboxLedger } from './embedded-default.js';
export { SandboxOptions, type SandboxOptionsInput } from './options.js';
export {
  SandboxControl,
  type CreateCustomerRequest,
  type TransferRequest,
  type TransferResult,
  type TxSummary,
} from './control/control.js';
export { CustomerScript, type CustomerScriptOptions } from './customers.js';
export type { FaultRuleInput, FaultAction } from './wire/faults.js';
