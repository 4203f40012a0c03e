/**
 * Errors caused by the caller's input. They carry the gRPC status they map to and a
 * message that names the field and what is accepted, so a VM owner can fix the VMI
 * from its events alone.
 */
import { status } from '@grpc/grpc-js';

export class InputError extends Error {
  constructor(
    /** The offending field, e.g. `vmi.metadata.annotations["kubemom.io/priority"]`. */
    readonly field: string,
    /** What is wrong and what is accepted. */
    readonly problem: string,
    readonly code: status = status.INVALID_ARGUMENT,
  ) {
    super(`${field}: ${problem}`);
    this.name = 'InputError';
  }
}

/** Input larger than we are willing to process. */
export class InputTooLargeError extends InputError {
  constructor(field: string, sizeBytes: number, limitBytes: number) {
    super(field, `is ${sizeBytes} bytes; at most ${limitBytes} bytes are accepted`, status.RESOURCE_EXHAUSTED);
    this.name = 'InputTooLargeError';
  }
}
