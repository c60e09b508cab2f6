// A CommonJS module whose named exports Node cannot detect: its default export holds them.
import cliProgress from 'cli-progress';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** How often the line is redrawn (the spinner turns) between two updates. */
const FRAMES_PER_SECOND = 10;

/**
 * One line redrawn in place on a terminal by cli-progress: a spinner that turns while the line
 * waits for news, then the text of the last update. cli-progress owns the cursor (hidden while the
 * line is shown, restored on stop, on SIGINT and on SIGTERM); the text is ours.
 */
export class ProgressLine {
  readonly #bar: cliProgress.SingleBar;
  #text = '';
  #frame = 0;

  constructor(terminal: NodeJS.WritableStream) {
    this.#bar = new cliProgress.SingleBar({
      stream: terminal,
      format: () => `${SPINNER[this.#frame++ % SPINNER.length]} ${this.#text}`,
      fps: FRAMES_PER_SECOND,
      hideCursor: true,
      gracefulExit: true,
    });
  }

  /** Shows `text` in place of the line's last text (the first call starts the line). */
  update(text: string): void {
    this.#text = text;
    if (this.#bar.isActive) this.#bar.update(0);
    else this.#bar.start(1, 0);
  }

  /** Draws the last text once more and ends the line; the next output starts below it. */
  stop(): void {
    this.#bar.stop();
  }
}
