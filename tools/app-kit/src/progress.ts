/**
 * A one-line progress bar on stderr. On a terminal it redraws in place; in a log
 * (no TTY) it prints only at 0%, every 25% and 100%, so CI output stays short.
 */
export class ProgressBar {
  private done = 0;
  private lastQuarter = -1;
  private readonly started = Date.now();

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly width = 30,
  ) {
    this.render();
  }

  tick(n = 1): void {
    this.done = Math.min(this.total, this.done + n);
    this.render();
  }

  finish(): void {
    this.done = this.total;
    this.render();
    if (this.stream.isTTY) this.stream.write('\n');
  }

  private render(): void {
    const fraction = this.total === 0 ? 1 : this.done / this.total;
    const filled = Math.round(fraction * this.width);
    const bar = '#'.repeat(filled) + '-'.repeat(this.width - filled);
    const seconds = ((Date.now() - this.started) / 1000).toFixed(1);
    const line = `${this.label.padEnd(12)} [${bar}] ${String(this.done).padStart(4)}/${this.total} ${seconds}s`;
    if (this.stream.isTTY) {
      this.stream.write(`\r${line}`);
      return;
    }
    const quarter = Math.floor(fraction * 4);
    if (quarter !== this.lastQuarter) {
      this.lastQuarter = quarter;
      this.stream.write(`${line}\n`);
    }
  }
}
