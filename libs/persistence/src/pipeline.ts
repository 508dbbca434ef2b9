import { Socket, SocketConstructorOpts } from 'node:net';
import type { PoolClient, QueryResult } from 'pg';

/**
 * A socket that sends everything written to it in one tick with one system call. node-postgres
 * writes each protocol message on its own (an extended-protocol query is five: parse, bind,
 * describe, execute, sync), and an uncorked socket makes a syscall of each; on a busy machine those
 * syscalls were the largest single cost of the send path (docs/benchmarks.md).
 */
export class CoalescingSocket extends Socket {
  constructor(options?: SocketConstructorOpts) {
    super(options);
    // Node sets `write` on the socket itself once it connects, shadowing any method of a subclass:
    // the property is an accessor, so whatever Node puts there is what the coalescing write calls.
    let write: Socket['write'] = Socket.prototype.write;
    let corked = false;
    const uncork = () => {
      corked = false;
      this.uncork();
    };
    const coalescing = (...args: Parameters<Socket['write']>): boolean => {
      if (!corked) {
        corked = true;
        this.cork();
        process.nextTick(uncork);
      }
      return (write as (...passed: typeof args) => boolean).apply(this, args);
    };
    Object.defineProperty(this, 'write', {
      configurable: true,
      get: () => coalescing,
      set: (replacement: Socket['write']) => (write = replacement),
    });
  }
}

/** One statement of a pipeline. A `name` makes it a prepared statement, parsed and planned once per connection. */
export interface Statement {
  name?: string;
  text: string;
  values?: unknown[];
}

/** node-postgres's client: `pipeline` is its constructor option, read on every query. */
type PipelinableClient = PoolClient & { pipeline?: boolean };

/**
 * Sends `statements` on `client` without waiting for each answer (the server still runs them one
 * after the other, each with its own snapshot), so they cost one round trip together. Resolves with
 * their results in order once all are answered; rejects with the first failure. Inside a
 * transaction a failure aborts it, and the statements behind it fail too, unapplied.
 *
 * The client must be checked out by the caller alone: pipeline mode is switched on for the call
 * and off once every answer is in, when the client is idle again.
 */
export async function runPipelined(client: PoolClient, statements: readonly Statement[]): Promise<QueryResult[]> {
  const pipelined = client as PipelinableClient;
  const was = pipelined.pipeline ?? false;
  pipelined.pipeline = true;
  try {
    const settled = await Promise.allSettled(
      statements.map((s) => client.query(s.name ? { name: s.name, text: s.text, values: s.values } : { text: s.text, values: s.values })),
    );
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<QueryResult>).value);
  } finally {
    pipelined.pipeline = was;
  }
}
