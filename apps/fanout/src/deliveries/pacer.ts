/**
 * Splits a long run of synchronous work into slices of about `sliceMs`, so gRPC calls, attaches
 * and Kafka heartbeats of the same process are served in between: check `due()` after each unit of
 * work and `await yield()` when it says so.
 */
export class Pacer {
  private sliceStart = performance.now();

  constructor(private readonly sliceMs: number) {}

  due(): boolean {
    return performance.now() - this.sliceStart >= this.sliceMs;
  }

  /** Lets the event loop run everything that is waiting (I/O included), then starts a new slice. */
  async yield(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.sliceStart = performance.now();
  }
}
