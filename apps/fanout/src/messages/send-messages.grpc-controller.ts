import { ServerDuplexStream, status } from '@grpc/grpc-js';
import { MESSAGE_SERVICE, SendMessagesResponse } from '@im/contracts';
import { CONFIG, fullMethodName, grpcError, ServiceMetrics, statusPartsOf, toStreamStatus } from '@im/service-kit';
import { invalidArgument } from '@im/shared-domain';
import { BeforeApplicationShutdown, Controller, Inject, Logger } from '@nestjs/common';
import { GrpcStreamCall } from '@nestjs/microservices';
import { FanoutConfig } from '../config/fanout.config';
import { AnsweredStream } from './answered-stream';
import { MessageCommands } from './message-commands';
import { SendMessageInput } from './message.mapper';

/** A request on the SendMessages stream, as proto-loader hands it out. */
export interface SendMessagesItem {
  requestId?: string;
  message?: SendMessageInput | null;
}

/** The metrics label of the stream's requests, as the gRPC interceptors name the call itself. */
const METHOD = fullMethodName('MessageService', 'SendMessages');

/**
 * How long a shutdown waits for the answers of requests already read (they are in a group commit
 * that normally takes milliseconds) before ending the streams regardless.
 */
const SHUTDOWN_GRACE_MS = 5_000;

/**
 * grpc-js sends a stream's status as HTTP/2 trailers once its last answer is written; the server is
 * torn down (sessions destroyed) right after the shutdown hooks, so leave the frames a moment to go out.
 */
const STATUS_FLUSH_MS = 100;

/**
 * im.v1.MessageService.SendMessages: a gateway's sends on one stream. Each request goes through the
 * same path as SendMessage (MessageCommands.send: validation, then the sequencer's group commit) and
 * is answered on its own, with the stored id and seq or with the error SendMessage would have
 * returned, mapped by the same table (statusPartsOf over toRpcException). Requests are submitted in
 * the order they are read, so one stream's sends to a channel are sequenced in that order.
 */
@Controller()
export class SendMessagesGrpcController implements BeforeApplicationShutdown {
  private readonly logger = new Logger('send-messages');
  private readonly maxInFlight: number;
  private readonly streams = new Set<AnsweredStream<SendMessagesItem, SendMessagesResponse>>();
  /** Set once the instance shuts down: streams opened from then on end at once. */
  private shuttingDown = false;

  constructor(
    private readonly messages: MessageCommands,
    @Inject(CONFIG) config: Pick<FanoutConfig, 'SEND_STREAM_MAX_IN_FLIGHT'>,
    private readonly metrics?: ServiceMetrics,
  ) {
    this.maxInFlight = config.SEND_STREAM_MAX_IN_FLIGHT;
  }

  @GrpcStreamCall(MESSAGE_SERVICE, 'SendMessages')
  sendMessages(call: ServerDuplexStream<SendMessagesItem, SendMessagesResponse>): Promise<void> {
    if (this.shuttingDown) {
      call.emit('error', toStreamStatus(shuttingDownError()));
      return Promise.resolve();
    }
    const stream = new AnsweredStream(call, this.maxInFlight, (request: SendMessagesItem) => this.answer(request));
    this.streams.add(stream);
    return stream.done.finally(() => this.streams.delete(stream));
  }

  /** One request's answer; never rejects. Called in read order: `send` submits before the first await. */
  private async answer(request: SendMessagesItem): Promise<SendMessagesResponse> {
    const requestId = request.requestId ?? '';
    const stopTimer = this.metrics?.grpcStreamItemDuration.startTimer({ method: METHOD });
    try {
      if (!request.message) throw invalidArgument('MISSING_MESSAGE', 'a SendMessages request must carry a message');
      const { messageId, messageSeq } = await this.messages.send(request.message);
      this.metrics?.grpcStreamItems.inc({ method: METHOD, code: 'OK' });
      return { requestId, sent: { messageId, messageSeq } };
    } catch (error) {
      const parts = statusPartsOf(error);
      if (parts.code === status.INTERNAL) this.logger.error({ err: error, requestId }, 'unhandled error answering a SendMessages request');
      this.metrics?.grpcStreamItems.inc({ method: METHOD, code: status[parts.code] ?? 'UNKNOWN' });
      return { requestId, error: parts };
    } finally {
      stopTimer?.();
    }
  }

  /** Streams stop reading, answer what they read, and end with UNAVAILABLE / SHUTTING_DOWN: the gateway resends the rest elsewhere. */
  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    const open = [...this.streams];
    await Promise.all(open.map((s) => s.close(shuttingDownError(), SHUTDOWN_GRACE_MS)));
    if (open.length > 0) await new Promise((resolve) => setTimeout(resolve, STATUS_FLUSH_MS));
  }
}

const shuttingDownError = () =>
  grpcError(status.UNAVAILABLE, 'SHUTTING_DOWN', 'this instance is shutting down; send the unanswered requests again on a new stream');
