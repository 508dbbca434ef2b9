// Test fault, preloaded with `node --require`: this process's kafkajs keeps its own snappy entry,
// which throws KafkaJSNotImplemented, whatever the service registers. A snappy batch then crashes
// the consumer that fetches it, as any batch kafkajs cannot decode would.
const { CompressionCodecs, CompressionTypes } = require('kafkajs');

const unsupported = CompressionCodecs[CompressionTypes.Snappy];
Object.defineProperty(CompressionCodecs, CompressionTypes.Snappy, {
  get: () => unsupported,
  set: () => undefined,
  enumerable: true,
});
