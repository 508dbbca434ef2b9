import { GRPC_LOADER_OPTIONS, GRPC_PACKAGES, PROTO_FILES, PROTO_ROOT } from '@im/contracts';
import type { Server } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions, Transport } from '@nestjs/microservices';
import { Logger } from 'nestjs-pino';
import { join } from 'node:path';
import { BaseConfig } from './config';
import { acceptEncodedResponses } from './encoded-response';
import { GrpcAccessGuard } from './grpc-access';
import { GrpcContextInterceptor, GrpcExceptionFilter, GrpcMetricsInterceptor } from './grpc-interceptors';
import { grpcServerCredentials, grpcTransportSecurityOf } from './grpc-tls';
import { ServiceMetrics } from './metrics';
import { Readiness } from './readiness';
import { startTracing } from './tracing';

/** Default of GRPC_MAX_MESSAGE_BYTES: larger requests and responses are refused with RESOURCE_EXHAUSTED. */
export const MAX_GRPC_MESSAGE_BYTES = 4 * 1024 * 1024;

export interface RunningService {
  app: INestApplication;
  grpcAddress: string;
  httpAddress: string;
  close(): Promise<void>;
}

/**
 * Starts one service: gRPC (im.v1 + grpc.health.v1) and HTTP (health, metrics) on the configured
 * ports. On SIGTERM it reports not-ready first, then closes: consumers finish their batch and
 * leave the group, the relay stops, connections close.
 */
export async function startService(appModule: Type<unknown> | DynamicModule, config: BaseConfig, name: string): Promise<RunningService> {
  // Before the app is built, so spans from start-up on have a provider to go to.
  const tracing = await startTracing(config, name);
  const app = await NestFactory.create(appModule, { bufferLogs: true });
  app.useLogger(app.get(Logger));
  const logger = app.get(Logger);
  // Before connectMicroservice: inheritAppConfig copies the global enhancers present at that moment.
  app.useGlobalFilters(new GrpcExceptionFilter());
  const access = new GrpcAccessGuard(config, app.get(ServiceMetrics));
  app.useGlobalGuards(access);
  // Context first, so the metrics interceptor and the handler run inside the call's correlation and span.
  app.useGlobalInterceptors(new GrpcContextInterceptor(), new GrpcMetricsInterceptor(app.get(ServiceMetrics)));
  if (!access.authEnabled) logger.warn('GRPC_AUTH_TOKENS is not set: gRPC authentication is OFF; every client may call im.v1 methods');
  if (tracing.mode !== 'off') logger.log(`tracing on (${tracing.mode})`);
  const maxMessageBytes = config.GRPC_MAX_MESSAGE_BYTES ?? MAX_GRPC_MESSAGE_BYTES;
  const grpcAddress = `${config.GRPC_HOST}:${config.GRPC_PORT}`;
  app.connectMicroservice<MicroserviceOptions>(
    {
      transport: Transport.GRPC,
      options: {
        url: grpcAddress,
        credentials: grpcServerCredentials(config),
        package: [...GRPC_PACKAGES],
        protoPath: PROTO_FILES.map((f) => join(PROTO_ROOT, f)),
        loader: GRPC_LOADER_OPTIONS,
        maxReceiveMessageLength: maxMessageBytes,
        maxSendMessageLength: maxMessageBytes,
        channelOptions: connectionAgeOptions(config),
        // Close waits for the calls in flight (streams are ended by their controllers before it,
        // health watches when the drain begins) instead of cancelling them.
        gracefulShutdown: true,
        onLoadPackageDefinition: (definition: PackageDefinition, server: Server) => {
          acceptEncodedResponses(definition);
          // Served by grpc-js itself, beside Nest's handlers: it describes the contract, nothing more.
          if (config.GRPC_REFLECTION) new ReflectionService(definition).addToServer(server);
        },
      },
    },
    { inheritAppConfig: true },
  );
  await app.startAllMicroservices();
  await app.listen(config.HTTP_PORT, config.HTTP_HOST);
  const httpAddress = `${config.HTTP_HOST}:${config.HTTP_PORT}`;
  logger.log(`${name} ready: gRPC ${grpcAddress} (${grpcTransportSecurityOf(config)}), HTTP ${httpAddress} (/health/live, /health/ready, /metrics)`);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      app.get(Readiness).markDraining();
      await app.close();
      await tracing.shutdown();
    })();
    return closing;
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      const timer = setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_MS);
      timer.unref();
      close()
        .then(() => process.exit(0))
        .catch(() => process.exit(1));
    });
  }
  return { app, grpcAddress, httpAddress, close };
}

/** grpc-js server options for GRPC_MAX_CONNECTION_AGE_MS (none when it is 0: connections live as long as clients keep them). */
export function connectionAgeOptions(config: Pick<BaseConfig, 'GRPC_MAX_CONNECTION_AGE_MS' | 'GRPC_MAX_CONNECTION_AGE_GRACE_MS'>): Record<string, number> {
  if (!config.GRPC_MAX_CONNECTION_AGE_MS) return {};
  return { 'grpc.max_connection_age_ms': config.GRPC_MAX_CONNECTION_AGE_MS, 'grpc.max_connection_age_grace_ms': config.GRPC_MAX_CONNECTION_AGE_GRACE_MS };
}
