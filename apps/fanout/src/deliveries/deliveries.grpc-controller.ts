import { ServerDuplexStream, status } from '@grpc/grpc-js';
import { MESSAGE_SERVICE } from '@im/contracts';
import { AudienceIds, validateStreamUids } from '@im/fanout-domain';
import { CONFIG, grpcError, toStreamStatus } from '@im/service-kit';
import { invalidArgument } from '@im/shared-domain';
import { BeforeApplicationShutdown, Controller, Inject, Logger } from '@nestjs/common';
import { GrpcStreamCall } from '@nestjs/microservices';
import { FanoutConfig } from '../config/fanout.config';
import { DeliveryEncoder } from './delivery-encoder';
import { DeliveryHub, DeliverySink } from './delivery-hub';

interface StreamRequest {
  action?: 'attach' | 'detach';
  attach?: { uids?: string[]; batched?: boolean | null; audiences?: boolean | null } | null;
  detach?: { uids?: string[] } | null;
}

/** im.v1.MessageService.StreamDeliveries: a gateway attaches uids and receives their deliveries. */
@Controller()
export class DeliveriesGrpcController implements BeforeApplicationShutdown {
  private readonly logger = new Logger('deliveries');

  /**
   * Deliveries a stream may have queued (not yet taken by the transport) before it counts as fallen
   * behind and is ended with UNAVAILABLE: memory stays bounded, and the gateway catches up by sync.
   */
  private readonly maxQueued: number;

  constructor(
    private readonly hub: DeliveryHub,
    private readonly encoder: DeliveryEncoder,
    @Inject(CONFIG) config: Pick<FanoutConfig, 'DELIVERY_STREAM_MAX_QUEUED'>,
  ) {
    this.maxQueued = config.DELIVERY_STREAM_MAX_QUEUED;
  }

  @GrpcStreamCall(MESSAGE_SERVICE, 'StreamDeliveries')
  streamDeliveries(call: ServerDuplexStream<StreamRequest, object>): Promise<void> {
    return new Promise<void>((resolve) => {
      let ended = false;
      /** Set once the stream's first Attach made it an audience stream. */
      let audiences: AudienceIds | undefined;
      const sink: DeliverySink = {
        write: (delivery) => {
          if (ended) return;
          call.write(this.encoder.encode(delivery, audiences));
          if (call.writableLength > this.maxQueued) {
            this.hub.close(sink);
            sink.fail(grpcError(status.UNAVAILABLE, 'STREAM_BEHIND', `more than ${this.maxQueued} deliveries are waiting; reconnect and catch up`));
          }
        },
        fail: (error) => {
          if (ended) return;
          ended = true;
          call.emit('error', toStreamStatus(error));
          resolve();
        },
      };
      const finish = () => {
        this.hub.close(sink);
        if (!ended) {
          ended = true;
          call.end();
        }
        resolve();
      };
      this.hub.open(sink);
      call.on('data', (req: StreamRequest) => {
        try {
          if (req.action === 'attach' || (req.attach && !req.action)) {
            const uids = validateStreamUids(req.attach?.uids);
            const mode = this.hub.attach(sink, uids, req.attach ?? {});
            if (mode === 'audiences') audiences ??= new AudienceIds();
            sink.write({ uid: '', attached: { uids } });
          } else if (req.action === 'detach' || req.detach) {
            this.hub.detach(sink, validateStreamUids(req.detach?.uids));
          } else {
            throw invalidArgument('MISSING_ACTION', 'a request must carry attach or detach');
          }
        } catch (error) {
          this.hub.close(sink);
          sink.fail(error);
        }
      });
      call.on('end', finish);
      call.on('cancelled', finish);
      call.on('close', finish);
      call.on('error', (error) => {
        this.logger.debug({ err: error }, 'delivery stream error');
        finish();
      });
    });
  }

  beforeApplicationShutdown() {
    this.hub.failAll(grpcError(status.UNAVAILABLE, 'SHUTTING_DOWN', 'this instance is shutting down; reconnect and catch up'));
  }
}
