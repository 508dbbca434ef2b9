import { toStreamStatus } from '@im/service-kit';
import { AsyncResource } from 'node:async_hooks';

/** What AnsweredStream uses of a grpc-js server duplex stream. */
export interface DuplexCall<Req, Res> {
  on(event: 'data', listener: (request: Req) => void): unknown;
  on(event: 'end' | 'finish' | 'cancelled' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  write(response: Res, callback: (error?: unknown) => void): boolean;
  end(): unknown;
  emit(event: 'error', error: unknown): boolean;
  pause(): unknown;
  resume(): unknown;
}

/**
 * A bidirectional stream on which every request read gets exactly one response, in the order the
 * responses are ready. At most `maxInFlight` requests are in flight (read and not yet answered, or
 * answered and not yet taken by the transport): at the limit the stream stops reading, so the
 * requests wait in the client and in HTTP/2 flow control instead of in this process, and reading
 * resumes as answers go out. A client that does not read its answers is not read either.
 *
 * When the client half-closes, the stream ends with OK once every request read is answered.
 * `close(error)` stops reading, answers what was read, then ends the stream with the error's status,
 * and settles once that status is handed to the transport.
 * `answer` runs in the async context the stream was opened in (the call's correlation id and trace
 * span) and must not reject: a request's own failure is part of its response.
 */
export class AnsweredStream<Req, Res> {
  /** Settles when the stream has ended (with a status, or because the client went away). */
  readonly done: Promise<void>;
  private settle!: () => void;
  /** Settles when the call's writable side finished (every answer and the status handed to the transport) or the call is gone. */
  private readonly flushed: Promise<void>;
  private unanswered = 0;
  private unflushed = 0;
  private paused = false;
  private inputEnded = false;
  private finished = false;
  private closing?: { error: unknown; timer?: NodeJS.Timeout };
  /** The caller's async context, so each request runs as part of the call's unit of work. */
  private readonly scope = new AsyncResource('AnsweredStream');

  constructor(
    private readonly call: DuplexCall<Req, Res>,
    private readonly maxInFlight: number,
    private readonly answer: (request: Req) => Promise<Res>,
  ) {
    this.done = new Promise<void>((resolve) => (this.settle = resolve));
    this.flushed = new Promise<void>((resolve) => {
      for (const event of ['finish', 'cancelled', 'close'] as const) call.on(event, resolve);
    });
    call.on('data', (request) => this.scope.runInAsyncScope(() => this.onRequest(request)));
    call.on('end', () => {
      this.inputEnded = true;
      this.maybeEnd();
    });
    for (const event of ['cancelled', 'close'] as const) call.on(event, () => this.stop());
    call.on('error', () => this.stop());
  }

  /** Requests read and not yet answered, plus answers not yet taken by the transport. */
  get inFlight(): number {
    return this.unanswered + this.unflushed;
  }

  /**
   * Stops reading, answers the requests already read, then ends the stream with `error`'s status.
   * After `graceMs` the stream ends even if answers are still missing (they are dropped). Settles
   * once the status is handed to the transport, or at the latest `graceMs` after the stream ended
   * (a client that does not read may hold its answers, and the status behind them, forever).
   */
  async close(error: unknown, graceMs: number): Promise<void> {
    if (!this.finished && !this.closing) {
      this.closing = { error };
      this.setPaused(true);
      this.maybeEnd();
      if (!this.finished) {
        this.closing.timer = setTimeout(() => this.fail(error), graceMs);
        this.closing.timer.unref();
      }
    }
    await this.done;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flushed, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs).unref()))]);
    clearTimeout(timer);
  }

  private onRequest(request: Req): void {
    if (this.finished) return;
    this.unanswered++;
    this.throttle();
    let answered: Promise<Res>;
    try {
      answered = this.answer(request);
    } catch (error) {
      answered = Promise.reject(error);
    }
    answered.then(
      (response) => this.respond(response),
      (error) => {
        this.unanswered--;
        this.fail(error);
      },
    );
  }

  private respond(response: Res): void {
    this.unanswered--;
    if (this.finished) return;
    this.unflushed++;
    this.call.write(response, () => {
      this.unflushed--;
      this.throttle();
    });
    this.maybeEnd();
  }

  private throttle(): void {
    if (this.closing || this.finished) return;
    if (!this.paused && this.inFlight >= this.maxInFlight) this.setPaused(true);
    else if (this.paused && this.inFlight < this.maxInFlight) this.setPaused(false);
  }

  private setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    if (paused) this.call.pause();
    else this.call.resume();
  }

  /** Ends the stream once nothing read is left unanswered: OK after the client's end, else the closing status. */
  private maybeEnd(): void {
    if (this.finished || this.unanswered > 0) return;
    if (this.inputEnded) {
      // Every request was read (the readable side emits `end` only after the last one): end with OK.
      this.finish();
      this.call.end();
    } else if (this.closing) {
      this.fail(this.closing.error);
    }
  }

  private fail(error: unknown): void {
    if (this.finished) return;
    this.finish();
    this.call.emit('error', toStreamStatus(error));
  }

  /** The client went away (or the stream ended): answers still to come are dropped. */
  private stop(): void {
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.closing?.timer);
    this.settle();
  }
}
