import { AddressInfo, createServer, Server, Socket, connect } from 'node:net';

/**
 * A TCP relay between a service and Postgres that passes every byte through unchanged and keeps the
 * text of the notices (protocol message 'N') the server sends to the service while recording. With
 * auto_explain logging at NOTICE level in the service's sessions, those notices are the plans of the
 * statements the service ran, with the parameters it bound: nothing is re-typed or re-run.
 */

const NOTICE = 0x4e; // 'N'
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/** Splits the server → client byte stream into protocol messages and hands notices to `onNotice`. */
class ServerStream {
  private pending = Buffer.alloc(0);
  /** Single-byte answers to SSL / GSS encryption requests come without a message header. */
  bareBytes = 0;
  /** After an accepted SSL request the stream is encrypted: nothing more can be read from it. */
  opaque = false;

  constructor(private readonly onNotice: (text: string) => void) {}

  push(chunk: Buffer): void {
    if (this.opaque) return;
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.bareBytes > 0 && buf.length > 0) {
      if (buf[0] === 0x53 /* 'S': encryption accepted */ || buf[0] === 0x47 /* 'G' */) this.opaque = true;
      this.bareBytes--;
      buf = buf.subarray(1);
    }
    if (this.opaque) return;
    while (buf.length >= 5) {
      const length = buf.readInt32BE(1);
      if (buf.length < 1 + length) break;
      if (buf[0] === NOTICE) this.onNotice(noticeMessage(buf.subarray(5, 1 + length)));
      buf = buf.subarray(1 + length);
    }
    this.pending = Buffer.from(buf);
  }
}

/** The 'M' (message) field of a NoticeResponse body: fields are a type byte and a C string, ended by a 0 byte. */
function noticeMessage(body: Buffer): string {
  for (let at = 0; at < body.length && body[at] !== 0;) {
    const type = body[at];
    const end = body.indexOf(0, at + 1);
    if (end < 0) break;
    if (type === 0x4d /* 'M' */) return body.toString('utf8', at + 1, end);
    at = end + 1;
  }
  return '';
}

export class NoticeTap {
  private readonly notices: string[] = [];
  private recording = false;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  /** Listens on a free local port and relays each connection to `target`. */
  static async start(target: { host: string; port: number }): Promise<NoticeTap> {
    const server = createServer();
    const tap = new NoticeTap(server);
    server.on('connection', (client) => tap.relay(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return tap;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Starts keeping notices, forgetting any kept before. */
  record(): void {
    this.notices.length = 0;
    this.recording = true;
  }

  /** Stops keeping notices and returns those kept since record(). */
  take(): string[] {
    this.recording = false;
    return this.notices.splice(0);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket, target: { host: string; port: number }): void {
    const server = connect(target.port, target.host);
    this.sockets.add(client).add(server);
    const stream = new ServerStream((text) => {
      if (this.recording) this.notices.push(text);
    });
    let first = true;
    client.on('data', (chunk: Buffer) => {
      // The client's first message has no type byte; an SSL or GSS encryption request among them is
      // answered with one bare byte.
      if (first && chunk.length >= 8) {
        const code = chunk.readInt32BE(4);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) stream.bareBytes++;
        else first = false;
      }
      server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      stream.push(chunk);
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      server.destroy();
      this.sockets.delete(client);
      this.sockets.delete(server);
    };
    client.on('close', end).on('error', end);
    server.on('close', end).on('error', end);
  }
}
