/**
 * Where the mosquitto_ctrl shell's lines come from (node:readline):
 *
 * - On a terminal: line editing, history (not saved) and Tab completion, as 2.1 has with
 *   editline/readline. Passwords are read with the echo off (the output is muted while
 *   they are typed) and kept out of the history.
 * - Otherwise (piped or redirected stdin): one line after another, no editing. Each
 *   prompt is written followed by the line read, as a terminal would show them, so that a
 *   scripted session's output reads like the interactive one (2.1.2 itself cannot run
 *   without a terminal: it waits for the terminal's answer about its colours).
 */
import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';

export interface ShellInput {
  /** A line after `prompt`; null at the end of input (Ctrl-D) or on Ctrl-C. */
  line(prompt: string): Promise<string | null>;
  /** A line typed without echo (the prompt is already written); null at the end of input. */
  secret(): Promise<string | null>;
  close(): void;
}

/** Completion: the candidates for the word being typed, and that word. */
export type Completer = (line: string) => [string[], string];

/** stdout, muted while a password is typed; the rest readline asks of a terminal passes through. */
class MutableTerminal extends Writable {
  muted = false;

  constructor(private readonly target: NodeJS.WriteStream) {
    super();
    target.on('resize', () => this.emit('resize'));
  }

  get columns(): number {
    return this.target.columns;
  }

  get rows(): number {
    return this.target.rows;
  }

  readonly isTTY = true;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    if (!this.muted) this.target.write(chunk);
    callback();
  }
}

/** A queue of lines fed by readline's 'line' events, closed by 'close'. */
class LineQueue {
  private readonly lines: string[] = [];
  private ended = false;
  private waiting: ((line: string | null) => void) | null = null;

  push(line: string): void {
    if (this.waiting !== null) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve(line);
    } else this.lines.push(line);
  }

  end(): void {
    this.ended = true;
    if (this.waiting !== null) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve(null);
    }
  }

  next(): Promise<string | null> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }
}

export function terminalInput(
  input: NodeJS.ReadStream,
  output: NodeJS.WriteStream,
  completer: Completer,
): ShellInput {
  const terminal = new MutableTerminal(output);
  const rl: Interface = createInterface({
    input,
    output: terminal,
    terminal: true,
    completer,
    historySize: 500,
  });
  const queue = new LineQueue();
  rl.on('line', (line) => {
    queue.push(line);
  });
  rl.on('close', () => {
    queue.end();
  });
  // Ctrl-C: 2.1 stops its loop on SIGINT; here it ends the input the same way.
  rl.on('SIGINT', () => {
    rl.close();
  });
  rl.pause();

  async function read(): Promise<string | null> {
    rl.resume();
    const line = await queue.next();
    rl.pause();
    return line;
  }

  return {
    line(prompt) {
      rl.setPrompt(prompt);
      rl.prompt();
      return read();
    },
    async secret() {
      terminal.muted = true;
      rl.setPrompt('');
      rl.prompt();
      const line = await read();
      terminal.muted = false;
      // readline keeps every line in its history; a password must not be recalled.
      const history = (rl as unknown as { history?: unknown }).history;
      if (line !== null && Array.isArray(history) && history[0] === line) history.shift();
      return line;
    },
    close() {
      rl.close();
    },
  };
}

export function pipedInput(
  input: NodeJS.ReadableStream,
  write: (text: string) => void,
): ShellInput {
  const rl = createInterface({ input, terminal: false, crlfDelay: Infinity });
  const queue = new LineQueue();
  rl.on('line', (line) => {
    queue.push(line);
  });
  rl.on('close', () => {
    queue.end();
  });
  return {
    async line(prompt) {
      write(prompt);
      const line = await queue.next();
      if (line !== null) write(`${line}\n`);
      return line;
    },
    secret: () => queue.next(),
    close() {
      rl.close();
    },
  };
}
