import { Metadata, status } from '@grpc/grpc-js';
import { DomainError, ErrorKind } from '@im/shared-domain';
import { BarrierTimeoutError } from '@im/kafka';
import { RpcException } from '@nestjs/microservices';
import { ProjectionHaltedError } from './consumer-supervision';

const STATUS_OF: Record<ErrorKind, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  UNAVAILABLE: status.UNAVAILABLE,
};

/** Trailer that carries the stable reason, for clients that would rather not parse the message. */
export const REASON_TRAILER = 'x-error-reason';

export function grpcError(code: status, reason: string, message: string): RpcException {
  const metadata = new Metadata();
  metadata.set(REASON_TRAILER, reason);
  return new RpcException({ code, message: `${reason}: ${message}`, metadata });
}

/** The one place where errors become gRPC statuses. Unknown errors are INTERNAL and logged by the caller. */
export function toRpcException(error: unknown): RpcException {
  if (error instanceof RpcException) return error;
  if (error instanceof DomainError) return grpcError(STATUS_OF[error.kind], error.reason, error.message);
  if (error instanceof BarrierTimeoutError) return grpcError(status.UNAVAILABLE, 'PROJECTION_BEHIND', `${error.message}; retry shortly`);
  if (error instanceof ProjectionHaltedError) return grpcError(status.UNAVAILABLE, 'PROJECTION_HALTED', error.message);
  const e = error as { name?: string; message?: string };
  if (e?.name === 'KafkaJSError' || e?.name?.startsWith('KafkaJS')) {
    return grpcError(status.UNAVAILABLE, 'KAFKA_UNAVAILABLE', e.message ?? 'Kafka is unavailable');
  }
  return grpcError(status.INTERNAL, 'INTERNAL', 'internal error');
}
