/**
 * A one-line progress bar on stderr. On a terminal it redraws in place; otherwise (CI, logs) it
 * prints a line at most every 10 %, so output stays readable. stdout is left to results.
 */
export class ProgressBar {
  private lastPrinted = -1;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly width = 30,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  update(done: number, total: number): void {
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const percent = Math.floor(ratio * 100);
    const filled = Math.round(ratio * this.width);
    const line = `${this.label} [${'#'.repeat(filled)}${'-'.repeat(this.width - filled)}] ${String(percent).padStart(3)}% ${done}/${total}`;
    if (this.tty) {
      this.stream.write(`\r${line}`);
    } else if (percent >= this.lastPrinted + 10 || (percent === 100 && this.lastPrinted < 100)) {
      this.stream.write(`${line}\n`);
      this.lastPrinted = percent;
    }
  }

  finish(): void {
    if (this.tty) this.stream.write('\n');
  }
}
