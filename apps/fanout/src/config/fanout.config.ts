import { baseConfigSchema, loadConfig, servicePorts } from '@im/service-kit';
import { z } from 'zod';

export const fanoutConfigSchema = baseConfigSchema.extend({
  ...servicePorts(50053, 9093).shape,
  /**
   * Deliveries a StreamDeliveries stream may have waiting for the transport before it counts as
   * fallen behind and is ended (UNAVAILABLE / STREAM_BEHIND): bounds memory per gateway.
   */
  DELIVERY_STREAM_MAX_QUEUED: z.coerce.number().int().min(100).max(10_000_000).default(50_000),
  /**
   * Requests a SendMessages stream may have in flight (read and not yet answered, or answered and
   * not yet taken by the transport); at the limit the stream is not read until answers go out, so
   * gRPC flow control holds the gateway's writes. Bounds memory per stream (at most this many
   * requests of up to 64 KiB payload each) and keeps several batches queued for the group commit.
   */
  SEND_STREAM_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** Most sends committed in one transaction (group commit); a batch takes what arrived while the previous one committed. */
  SEND_BATCH_MAX: z.coerce.number().int().min(1).max(5_000).default(500),
  /**
   * Send batches unanswered at once, as a pipeline: with 3, one commits while the next waits at its
   * read barrier and the one before publishes (a committing or publishing batch holds a pool
   * connection); transactions still run one at a time. 1, batches strictly one after the other,
   * measured as fast at saturation and with lower latency below it on a 2-core machine that also
   * runs Kafka and Postgres (docs/benchmarks.md): there the overlap makes every round trip slower.
   */
  SEND_BATCHES_IN_FLIGHT: z.coerce.number().int().min(1).max(16).default(1),
  /**
   * Membership intervals the live delivery keeps in memory (about 160 bytes each), least recently
   * used channels dropped first. The default holds several 100k-member channels in about 80 MB; a
   * channel that does not fit is reloaded from Postgres for each consumed batch that needs it.
   */
  DELIVERY_MEMBERSHIP_CACHE_MAX_INTERVALS: z.coerce.number().int().min(1).max(100_000_000).default(500_000),
});
export type FanoutConfig = ReturnType<typeof loadFanoutConfig>;
export const loadFanoutConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(fanoutConfigSchema, env);

export const FANOUT_SERVICE = { name: 'fanout', schema: 'fanout' };
