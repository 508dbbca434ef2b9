/**
 * The outcome classes a caller can act on. They map one-to-one onto gRPC status codes at the edge
 * (and onto DLQ reasons for Kafka commands); the domain itself knows nothing of gRPC.
 */
export type ErrorKind = 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'ALREADY_EXISTS' | 'FAILED_PRECONDITION' | 'PERMISSION_DENIED' | 'UNAVAILABLE';

/** A rejection decided by business rules. `reason` is stable and machine-readable; `message` is for humans. */
export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const invalidArgument = (reason: string, message: string) => new DomainError('INVALID_ARGUMENT', reason, message);
export const notFound = (reason: string, message: string) => new DomainError('NOT_FOUND', reason, message);
export const alreadyExists = (reason: string, message: string) => new DomainError('ALREADY_EXISTS', reason, message);
export const failedPrecondition = (reason: string, message: string) => new DomainError('FAILED_PRECONDITION', reason, message);
export const permissionDenied = (reason: string, message: string) => new DomainError('PERMISSION_DENIED', reason, message);

/** `KIND/REASON` of a refusal (e.g. `INVALID_ARGUMENT/VALUE_OUT_OF_RANGE`), as logs and tests name it; anything else as its message. */
export const refusalOf = (error: unknown): string => (error instanceof DomainError ? `${error.kind}/${error.reason}` : String(error));

/** What calling `decide` comes to: `OK`, or the refusal it throws. */
export function outcomeOf(decide: () => unknown): string {
  try {
    decide();
    return 'OK';
  } catch (error) {
    return refusalOf(error);
  }
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
