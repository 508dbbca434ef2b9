import { setKafkaTracing } from '@im/kafka';
import { BaseConfig, tracingModeOf } from './config';

export interface Tracing {
  mode: 'off' | 'otlp' | 'console';
  shutdown(): Promise<void>;
}

/**
 * Registers an OpenTelemetry tracer provider when tracing is asked for (OTEL_EXPORTER_OTLP_ENDPOINT,
 * or TRACING=console). The SDK is loaded only then, so a service without tracing starts as fast as
 * before. Spans come from the gRPC interceptor, the Kafka producer and the consumers; the OTLP
 * exporter reads the standard OTEL_EXPORTER_OTLP_* variables itself.
 */
export async function startTracing(
  config: Pick<BaseConfig, 'TRACING' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_SERVICE_NAME'>,
  serviceName: string,
): Promise<Tracing> {
  const mode = tracingModeOf(config);
  if (mode === 'off') return { mode, shutdown: async () => undefined };
  const [{ NodeTracerProvider }, { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
  ]);
  const processor =
    mode === 'otlp'
      ? new BatchSpanProcessor(new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter())
      : new SimpleSpanProcessor(new ConsoleSpanExporter());
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.OTEL_SERVICE_NAME ?? serviceName }),
    spanProcessors: [processor],
  });
  // Also installs the async-context manager and the W3C propagator (traceparent).
  provider.register();
  setKafkaTracing(true);
  return {
    mode,
    shutdown: async () => {
      setKafkaTracing(false);
      await provider.shutdown().catch(() => undefined);
    },
  };
}
