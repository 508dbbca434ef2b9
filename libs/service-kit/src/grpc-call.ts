import type { Metadata } from '@grpc/grpc-js';
import type { ExecutionContext } from '@nestjs/common';
import { PATTERN_METADATA } from '@nestjs/microservices/constants';

/** What enhancers need of a grpc-js server call: its metadata and its peer, and for streams the stream itself. */
export interface GrpcServerCall {
  metadata: Metadata;
  getPeer(): string;
  /** Present on calls that stream responses; `emit('error', status)` ends them with that status. */
  emit?(event: string, ...args: unknown[]): boolean;
  writableEnded?: boolean;
  destroyed?: boolean;
}

/** The gRPC call behind the arguments Nest hands a handler and its guards, interceptors and filters. */
export interface GrpcCallParts {
  metadata?: Metadata;
  call?: GrpcServerCall;
  /**
   * True for a `@GrpcStreamCall` handler, which gets the call itself (and, when only the request
   * streams, the unary callback) instead of `(request, metadata, call)`.
   */
  streamCall: boolean;
  /** The callback of a `@GrpcStreamCall` whose response is unary. */
  callback?: (error: unknown, value?: unknown) => void;
}

const isServerCall = (value: unknown): value is GrpcServerCall =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as GrpcServerCall).getPeer === 'function' &&
  typeof (value as { sendMetadata?: unknown }).sendMetadata === 'function' &&
  typeof (value as GrpcServerCall).metadata === 'object';

/**
 * Finds the call in either argument shape of @nestjs/microservices: unary, server-streaming and
 * `@GrpcStreamMethod` handlers get `(request, metadata, call)`, `@GrpcStreamCall` handlers get
 * `(call)` or `(call, callback)`. Reading index 1 as the metadata, as one does for unary calls,
 * finds nothing on a stream call; authentication must not depend on the shape.
 */
export function grpcCallOf(args: readonly unknown[]): GrpcCallParts {
  const [first, second, third] = args;
  if (isServerCall(first)) {
    return {
      metadata: first.metadata,
      call: first,
      streamCall: true,
      callback: typeof second === 'function' ? (second as GrpcCallParts['callback']) : undefined,
    };
  }
  return { metadata: second as Metadata | undefined, call: isServerCall(third) ? third : undefined, streamCall: false };
}

/** The proto service (without its package) and method a handler serves, from its `@GrpcMethod` / `@GrpcStreamCall` metadata. */
export function grpcMethodOf(context: ExecutionContext): { service: string; rpc: string } {
  const pattern = Reflect.getMetadata(PATTERN_METADATA, context.getHandler()) as
    { service?: string; rpc?: string } | { service?: string; rpc?: string }[] | undefined;
  const { service = '', rpc = '' } = (Array.isArray(pattern) ? pattern[0] : pattern) ?? {};
  return { service, rpc };
}

/** A method's full name as gRPC clients, tools and dashboards know it, e.g. `im.v1.ChannelService/CreateChannel`. */
export const fullMethodName = (service: string, rpc: string) => `${service === 'Health' ? 'grpc.health.v1' : 'im.v1'}.${service}/${rpc}`;
