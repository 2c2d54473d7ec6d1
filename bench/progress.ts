/** One progress line on stderr: rewritten in place on a terminal, one line per update otherwise. */
export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private shown = false;

  constructor(private readonly label: string) {}

  update(text: string): void {
    const line = `[${this.label}] ${text}`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}`);
    else process.stderr.write(line + '\n');
    this.shown = true;
  }

  done(text?: string): void {
    if (text) this.update(text);
    if (this.tty && this.shown) process.stderr.write('\n');
    this.shown = false;
  }
}

/** A plain note on stderr (setup steps, warnings), never mixed into the report on stdout. */
export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}
