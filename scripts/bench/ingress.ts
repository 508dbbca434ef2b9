import { grpcClient } from '@im/testing';

interface Answer {
  requestId: string;
  result?: 'sent' | 'error';
  error?: { code: number; reason: string; message: string };
}

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
}

interface IngressStream {
  write(request: unknown): boolean;
  end(): void;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

/**
 * Sends the way a gateway would with MessageService.SendMessages: a few long-lived streams, the
 * requests spread over them in turn, each send settled by its own answer. An error answer rejects
 * that send with `REASON: text`; a stream the server ends rejects the sends still waiting on it.
 */
export class IngressStreams {
  private readonly client: ReturnType<typeof grpcClient>;
  private readonly streams: { call: IngressStream; pending: Map<string, Pending>; ended?: string }[] = [];
  private next = 0;

  constructor(fanoutAddress: string, count: number) {
    this.client = grpcClient('MessageService', fanoutAddress);
    for (let s = 0; s < count; s++) {
      const stream = { call: this.client.raw.sendMessages() as IngressStream, pending: new Map<string, Pending>(), ended: undefined as string | undefined };
      stream.call.on('data', (answer: Answer) => {
        const waiting = stream.pending.get(answer.requestId);
        stream.pending.delete(answer.requestId);
        if (answer.result === 'error') waiting?.reject(new Error(`${answer.error?.reason}: ${answer.error?.message}`));
        else waiting?.resolve();
      });
      stream.call.on('error', () => undefined);
      stream.call.on('status', (status: { code: number; details: string }) => {
        stream.ended = status.code === 0 ? 'OK' : status.details;
        for (const waiting of stream.pending.values()) waiting.reject(new Error(`SendMessages stream ended: ${stream.ended}`));
        stream.pending.clear();
      });
      this.streams.push(stream);
    }
  }

  send(message: { fromUid: string; channel: { channelId: string; channelType: number }; payload: Buffer; clientMsgNo: string }): Promise<void> {
    const requestId = String(this.next++);
    const stream = this.streams[this.next % this.streams.length];
    if (stream.ended) return Promise.reject(new Error(`SendMessages stream ended: ${stream.ended}`));
    return new Promise<void>((resolve, reject) => {
      stream.pending.set(requestId, { resolve, reject });
      stream.call.write({ requestId, message });
    });
  }

  close(): void {
    for (const s of this.streams) s.call.end();
    this.client.close();
  }
}
