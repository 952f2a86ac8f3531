/** A stored machine this code cannot read (its version, its context): the runtime refuses to start. */
export class MachineVersionError extends Error {
  override readonly name = 'MachineVersionError';
}

/** An outbox event whose payload does not parse: the runtime stops on it (fail closed). */
export class BadOutboxEventError extends Error {
  override readonly name = 'BadOutboxEventError';
}

/** What a machine did could not be (or was not yet) persisted: whatever waited for it gives up. */
export class NotDurableError extends Error {
  override readonly name = 'NotDurableError';
}
