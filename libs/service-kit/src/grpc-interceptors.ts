import { ArgumentsHost, CallHandler, Catch, ExecutionContext, Injectable, Logger, NestInterceptor, RpcExceptionFilter } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { Observable, of, throwError } from 'rxjs';
import { tap } from 'rxjs/operators';
import { status } from '@grpc/grpc-js';
import { contextFromHeaders, kafkaTracingEnabled, traceHeadersOf } from '@im/kafka';
import { context as otelContext, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { CORRELATION_HEADER, correlationIdFrom, withCorrelation } from './correlation';
import { fullMethodName, grpcCallOf, grpcMethodOf } from './grpc-call';
import { toRpcException, toStreamStatus } from './grpc-errors';
import { ServiceMetrics } from './metrics';

/**
 * Maps every error a gRPC handler (or a guard or interceptor before it) throws through the one
 * error table; unexpected ones are logged. A `@GrpcStreamCall` has no callback for Nest to report
 * the error to, so the filter ends the call with the status itself: otherwise the client would
 * wait forever and the rejection would go unhandled in the process.
 */
@Catch()
export class GrpcExceptionFilter implements RpcExceptionFilter {
  private readonly logger = new Logger('grpc');

  catch(exception: unknown, host: ArgumentsHost): Observable<unknown> {
    const rpc = toRpcException(exception);
    const error = rpc.getError() as { code: number };
    if (error.code === status.INTERNAL) {
      this.logger.error({ err: exception, handler: host.getType() }, 'unhandled error in gRPC handler');
    }
    const { streamCall, call, callback } = grpcCallOf(host.getArgs());
    if (!streamCall) return throwError(() => error);
    if (callback) callback(toStreamStatus(exception));
    else if (call?.emit && !call.writableEnded && !call.destroyed) call.emit('error', toStreamStatus(exception));
    // Completes with a value, so Nest's `lastValueFrom` over the handler's result settles quietly.
    return of(undefined);
  }
}

const codeOf = (error: unknown) => {
  const e = error instanceof RpcException ? (error.getError() as { code?: number }) : (toRpcException(error).getError() as { code?: number });
  return status[e.code ?? status.UNKNOWN] ?? 'UNKNOWN';
};

/** Counts and times every unary gRPC call by method and resulting status. */
@Injectable()
export class GrpcMetricsInterceptor implements NestInterceptor {
  constructor(private readonly metrics: ServiceMetrics) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'rpc') return next.handle();
    const { service, rpc } = grpcMethodOf(context);
    const method = fullMethodName(service, rpc);
    const stop = this.metrics.grpcDuration.startTimer({ method });
    return next.handle().pipe(
      tap({
        complete: () => {
          stop();
          this.metrics.grpcRequests.inc({ method, code: 'OK' });
        },
        error: (error) => {
          stop();
          this.metrics.grpcRequests.inc({ method, code: codeOf(error) });
        },
      }),
    );
  }
}

/**
 * Gives every gRPC call its unit-of-work context: the caller's `x-correlation-id` (or a new one)
 * for logs and the events the call causes, and, when tracing is on, a SERVER span continuing the
 * caller's `traceparent`, whose context the events carry on to Kafka.
 */
@Injectable()
export class GrpcContextInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'rpc') return next.handle();
    const { metadata } = grpcCallOf(context.getArgs());
    const correlationId = correlationIdFrom(metadata?.get(CORRELATION_HEADER)?.[0]);
    if (!kafkaTracingEnabled()) return withCorrelation(correlationId, () => next.handle());

    const carrier: Record<string, string> = {};
    for (const [key, value] of Object.entries(metadata?.getMap() ?? {})) if (typeof value === 'string') carrier[key] = value;
    const parent = contextFromHeaders(carrier);
    const { service, rpc } = grpcMethodOf(context);
    // Named as the OpenTelemetry conventions for RPC spans have it: `package.Service/Method`.
    const name = fullMethodName(service, rpc);
    const span = trace.getTracer('im-grpc').startSpan(
      name,
      {
        kind: SpanKind.SERVER,
        attributes: { 'rpc.system': 'grpc', 'rpc.service': name.split('/')[0], 'rpc.method': rpc, 'im.correlation_id': correlationId },
      },
      parent,
    );
    const active = trace.setSpan(parent, span);
    // The handler is bound to the async context in which next.handle() is called, so both the
    // span and the correlation reach everything it awaits.
    const handled = otelContext.with(active, () => withCorrelation(correlationId, () => next.handle(), traceHeadersOf(active)));
    return handled.pipe(
      tap({
        complete: () => span.end(),
        error: (error) => {
          const code = codeOf(error);
          span.setAttribute('rpc.grpc.status_code', status[code as keyof typeof status] ?? status.UNKNOWN);
          if (code === 'INTERNAL' || code === 'UNKNOWN' || code === 'UNAVAILABLE')
            span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
          span.end();
        },
      }),
    );
  }
}
