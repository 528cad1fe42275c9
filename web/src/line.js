// What a terminal's line discipline does for a program reading its stdin:
// local echo, editing (Backspace, Ctrl-U), a line sent on Enter, Ctrl-D as
// end of input, Ctrl-C as an interrupt (here: stop the execution).
//
// Frames sent (README, "WebSocket frames"): `{"type":"input","content"}`
// for a line (the server appends the newline), `{"type":"stdin"}` for a
// partial line flushed by Ctrl-D, then `{"type":"eof"}`.

export class LineDiscipline {
  /**
   * @param {{echo: (text: string) => void, send: (frame: object) => void, interrupt: () => void}} io
   */
  constructor(io) {
    this.io = io;
    this.line = '';
  }

  reset() {
    this.line = '';
  }

  /** Feeds what the terminal received from the keyboard (or a paste). */
  feed(data) {
    // An escape sequence (arrows, function keys) moves nothing here.
    if (data.startsWith('\x1b')) return;
    for (const ch of data) {
      switch (ch) {
        case '\r':
        case '\n':
          this.io.echo('\r\n');
          this.io.send({ type: 'input', content: this.line });
          this.line = '';
          break;
        case '\x7f':
        case '\b':
          if (this.line) {
            const chars = [...this.line];
            chars.pop();
            this.line = chars.join('');
            this.io.echo('\b \b');
          }
          break;
        case '\x15': // Ctrl-U: erase the line
          this.io.echo('\b \b'.repeat([...this.line].length));
          this.line = '';
          break;
        case '\x04': // Ctrl-D: what is typed, then end of input
          if (this.line) this.io.send({ type: 'stdin', content: this.line });
          this.line = '';
          this.io.send({ type: 'eof' });
          break;
        case '\x03': // Ctrl-C
          this.line = '';
          this.io.interrupt();
          return;
        default:
          if (ch >= ' ') {
            this.line += ch;
            this.io.echo(ch);
          }
      }
    }
  }
}
