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

/** An error as toRpcException maps it, in parts: the status code, the stable reason and the human text (without the `REASON: ` prefix). */
export interface RpcStatusParts {
  code: status;
  reason: string;
  message: string;
}

/**
 * The status, reason and text a unary call would end with for `error` (through toRpcException),
 * for answers that carry an error as data instead of ending the call, such as the per-request
 * answers of a stream.
 */
export function statusPartsOf(error: unknown): RpcStatusParts {
  const e = toRpcException(error).getError();
  if (typeof e !== 'object' || e === null) return { code: status.UNKNOWN, reason: '', message: String(e) };
  const { code, message, metadata } = e as { code?: number; message?: string; metadata?: Metadata };
  const reason = String(metadata?.get(REASON_TRAILER)?.[0] ?? '');
  const text = message ?? '';
  return { code: code ?? status.UNKNOWN, reason, message: reason && text.startsWith(`${reason}: `) ? text.slice(reason.length + 2) : text };
}

/**
 * An error as a grpc-js server stream ends with it: `call.emit('error', toStreamStatus(error))`
 * sends the same code, `REASON: text` details and reason trailer as a unary call would.
 */
export function toStreamStatus(error: unknown): Error & { code: number; details: string; metadata?: Metadata } {
  const e = toRpcException(error).getError();
  if (typeof e !== 'object' || e === null) return Object.assign(new Error(String(e)), { code: status.UNKNOWN, details: String(e) });
  const { code, message, metadata } = e as { code?: number; message?: string; metadata?: Metadata };
  return Object.assign(new Error(message), { code: code ?? status.UNKNOWN, details: message ?? '', metadata });
}
