/**
 * How the mosquitto_ctrl shell (Mosquitto 2.1's ctrl_shell.c) writes: its colours and the
 * printf helpers of the modes (labels, indented values, help command lines).
 *
 * 2.1 wraps the colour codes in \001..\002 (readline's "not printed" markers) everywhere,
 * including in the text it prints itself, where they reach the terminal as is (terminals
 * ignore them). We write the same bytes; in prompts Node's readline measures the width
 * itself, so there the codes go without markers, which is what 2.1's editline sends too.
 * Without a terminal there are no colours at all.
 */

export interface Palette {
  readonly url: string;
  readonly module: string;
  readonly input: string;
  readonly error: string;
  readonly labels: readonly [string, string];
  readonly reset: string;
  readonly topic: string;
  readonly positive: string;
  readonly negative: string;
}

const marked = (code: string): string => `\x01\x1b[${code}m\x02`;

/** The palette 2.1 picks when the terminal's text is brighter than its background. */
export const DARK_PALETTE: Palette = {
  url: marked('38;5;155'),
  module: marked('38;5;214'),
  input: marked('38;5;80'),
  error: marked('38;5;198'),
  labels: [marked('38;5;207'), marked('38;5;219')],
  reset: marked('0'),
  topic: marked('93'),
  positive: marked('92'),
  negative: marked('95'),
};

export const PLAIN_PALETTE: Palette = {
  url: '',
  module: '',
  input: '',
  error: '',
  labels: ['', ''],
  reset: '',
  topic: '',
  positive: '',
  negative: '',
};

/** A prompt's text: the codes without the \001..\002 markers (see above). */
export function promptText(text: string): string {
  return text.replaceAll('\x01', '').replaceAll('\x02', '');
}

/** The printing side of the shell, shared by its modes. */
export class ShellOutput {
  constructor(
    readonly colours: Palette,
    private readonly write: (text: string) => void,
  ) {}

  print(text: string): void {
    this.write(text);
  }

  /** ctrl_shell_print_help_command: a command's synopsis in the input colour. */
  helpCommand(command: string): void {
    this.write(`${this.colours.input}${command}${this.colours.reset}\n`);
  }

  /** An error text from the broker or the connection, in the error colour. */
  error(text: string): void {
    this.write(`${this.colours.error}${text}${this.colours.reset}\n`);
  }

  private labelText(level: number, label: string): string {
    const colour = this.colours.labels[level < 2 ? level : 1];
    return `${'  '.repeat(level)}${colour}${label}${this.colours.reset}`;
  }

  /** ctrl_shell_print_label: an indented, coloured label on its own line. */
  label(level: number, label: string): void {
    this.write(`${this.labelText(level, label)}\n`);
  }

  /** ctrl_shell_print_label_value: label, then the value in column `align` + 2. */
  labelValue(level: number, label: string, align: number, value: string): void {
    const pad = Math.max(0, align - (label.length + 2 * level) + 2);
    this.write(`${this.labelText(level, label)}${' '.repeat(pad)}${value}`);
  }

  /** ctrl_shell_print_value: text indented by `level` steps of two spaces. */
  value(level: number, text: string): void {
    this.write(`${'  '.repeat(level)}${text}`);
  }
}
