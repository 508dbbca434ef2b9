import type { MethodDefinition, PackageDefinition } from '@grpc/proto-loader';

/**
 * A response already encoded as protobuf bytes (see `responseCodec`), for a handler that writes the
 * same parts to many streams and encodes each part once. The server writes the bytes as they are.
 */
export class EncodedResponse {
  constructor(readonly bytes: Buffer) {}
}

/**
 * Lets every method of a loaded contract answer with an EncodedResponse as well as with a plain
 * object: its response serializer passes the bytes through. Run on the package definition before
 * the server adds its services.
 */
export function acceptEncodedResponses(definition: PackageDefinition): void {
  for (const entry of Object.values(definition)) {
    // Message and enum types carry a `format`; services are maps of method definitions.
    if ('format' in entry) continue;
    for (const method of Object.values(entry as Record<string, MethodDefinition<object, object>>)) {
      const serialize = method.responseSerialize;
      method.responseSerialize = (value: object) => (value instanceof EncodedResponse ? value.bytes : serialize(value));
    }
  }
}
