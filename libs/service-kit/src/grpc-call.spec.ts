import { Metadata, status } from '@grpc/grpc-js';
import { DomainError } from '@im/shared-domain';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { RpcException } from '@nestjs/microservices';
import { EventEmitter } from 'node:events';
import { lastValueFrom } from 'rxjs';
import { grpcCallOf } from './grpc-call';
import { GrpcAccessGuard } from './grpc-access';
import { grpcError, REASON_TRAILER, statusPartsOf, toStreamStatus } from './grpc-errors';
import { GrpcExceptionFilter } from './grpc-interceptors';

const TOKEN = 'gateway-token-0123456789abcdef';

/** Enough of a grpc-js server call for the enhancers: metadata, peer, and the stream's error event. */
class FakeCall extends EventEmitter {
  writableEnded = false;
  destroyed = false;
  statusSent?: { code: number; details: string; metadata?: Metadata };

  constructor(
    readonly metadata = new Metadata(),
    private readonly peer = 'ipv4:10.0.0.7:53211',
  ) {
    super();
    this.on('error', (e: { code: number; details: string; metadata?: Metadata }) => (this.statusSent = e));
  }

  getPeer() {
    return this.peer;
  }

  sendMetadata() {
    // Nothing to send in a test.
  }
}

const withToken = (token: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};

class SomeController {
  handler() {
    return undefined;
  }
}

const rpcContext = (args: unknown[]) => {
  const context = new ExecutionContextHost(args, SomeController, SomeController.prototype.handler);
  context.setType('rpc');
  return context;
};

describe('grpcCallOf', () => {
  it('reads (request, metadata, call) of unary and server-streaming handlers', () => {
    const call = new FakeCall();
    const metadata = new Metadata();
    expect(grpcCallOf([{ uid: 'a' }, metadata, call])).toEqual({ metadata, call, streamCall: false });
  });

  it('reads (call) of a @GrpcStreamCall handler, whose metadata is on the call', () => {
    const call = new FakeCall(withToken(TOKEN));
    expect(grpcCallOf([call])).toEqual({ metadata: call.metadata, call, streamCall: true, callback: undefined });
  });

  it('does not take a request message for a call', () => {
    expect(grpcCallOf([{ metadata: {}, getPeer: 'x' }, undefined, undefined]).streamCall).toBe(false);
  });
});

describe('GrpcAccessGuard on both call shapes', () => {
  const guard = new GrpcAccessGuard({ GRPC_AUTH_TOKENS: TOKEN, GRPC_RATE_LIMIT_PER_SECOND: 0 });

  it('admits a stream call that presents a configured token on the call', () => {
    expect(guard.canActivate(rpcContext([new FakeCall(withToken(TOKEN))]))).toBe(true);
  });

  it('refuses a stream call without a valid token, as it refuses a unary call', () => {
    for (const args of [[new FakeCall()], [new FakeCall(withToken('not-the-token-0000000000'))], [{}, new Metadata(), new FakeCall()]]) {
      expect(() => guard.canActivate(rpcContext(args))).toThrow(RpcException);
    }
  });

  it('rate-limits stream calls per peer host, like unary calls', () => {
    const limited = new GrpcAccessGuard({ GRPC_RATE_LIMIT_PER_SECOND: 0.001, GRPC_RATE_LIMIT_BURST: 1 });
    expect(limited.canActivate(rpcContext([new FakeCall(new Metadata(), 'ipv4:10.0.0.8:1')]))).toBe(true);
    expect(() => limited.canActivate(rpcContext([new FakeCall(new Metadata(), 'ipv4:10.0.0.8:2')]))).toThrow(RpcException);
    // Another host has its own bucket (a stream call is not lumped with every other one).
    expect(limited.canActivate(rpcContext([new FakeCall(new Metadata(), 'ipv4:10.0.0.9:1')]))).toBe(true);
  });
});

describe('GrpcExceptionFilter', () => {
  const filter = new GrpcExceptionFilter();

  it('ends a stream call with the status, reason trailer and text of the error, and completes quietly', async () => {
    const call = new FakeCall();
    const result = filter.catch(grpcError(status.UNAUTHENTICATED, 'UNAUTHENTICATED', 'missing token'), rpcContext([call]));
    await expect(lastValueFrom(result)).resolves.toBeUndefined();
    expect(call.statusSent).toMatchObject({ code: status.UNAUTHENTICATED, details: 'UNAUTHENTICATED: missing token' });
    expect(call.statusSent?.metadata?.get(REASON_TRAILER)).toEqual(['UNAUTHENTICATED']);
  });

  it('leaves a stream call that already ended alone', async () => {
    const call = new FakeCall();
    call.writableEnded = true;
    await lastValueFrom(filter.catch(grpcError(status.UNAVAILABLE, 'SHUTTING_DOWN', 'late'), rpcContext([call])));
    expect(call.statusSent).toBeUndefined();
  });

  it('hands a unary call its error as before', async () => {
    const result = filter.catch(new DomainError('PERMISSION_DENIED', 'NOT_SUBSCRIBER', 'not a member'), rpcContext([{}, new Metadata(), new FakeCall()]));
    await expect(lastValueFrom(result)).rejects.toMatchObject({ code: status.PERMISSION_DENIED, message: 'NOT_SUBSCRIBER: not a member' });
  });
});

describe('statusPartsOf and toStreamStatus', () => {
  it('give a domain error the code and reason of the one error table, and its text without the prefix', () => {
    const error = new DomainError('INVALID_ARGUMENT', 'EMPTY_PAYLOAD', 'payload must not be empty');
    expect(statusPartsOf(error)).toEqual({ code: status.INVALID_ARGUMENT, reason: 'EMPTY_PAYLOAD', message: 'payload must not be empty' });
    expect(toStreamStatus(error)).toMatchObject({ code: status.INVALID_ARGUMENT, details: 'EMPTY_PAYLOAD: payload must not be empty' });
  });

  it('make an unknown error INTERNAL without leaking its text', () => {
    expect(statusPartsOf(new Error('connection string with a password'))).toEqual({ code: status.INTERNAL, reason: 'INTERNAL', message: 'internal error' });
  });

  it('keep infrastructure errors retryable (UNAVAILABLE)', () => {
    const kafka = Object.assign(new Error('broker down'), { name: 'KafkaJSConnectionError' });
    expect(statusPartsOf(kafka)).toEqual({ code: status.UNAVAILABLE, reason: 'KAFKA_UNAVAILABLE', message: 'broker down' });
  });
});
