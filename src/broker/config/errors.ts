/**
 * What loading a configuration reports: log lines in the order Mosquitto would print them
 * while parsing, and the fatal ConfigError.
 */

/** A line Mosquitto logs while reading its configuration, with its log type. */
export interface ConfigMessage {
  readonly type: 'error' | 'warning' | 'notice' | 'information';
  readonly text: string;
}

/**
 * A fatal configuration error. `messages` holds everything logged while loading, ending
 * with the error lines exactly as Mosquitto prints them (each to be logged at error level
 * with the usual `<timestamp>: ` prefix), e.g.
 *
 *     Error: Unknown configuration variable "foo".
 *     Error found at /etc/mosquitto/mosquitto.conf:3.
 *
 * An error in an included file ends with two "Error found at" lines: the included file's
 * line, then the `include_dir` line of the main file. The broker exits with status 3.
 */
export class ConfigError extends Error {
  /** The file whose line is at fault (the innermost one); '' when no file is involved. */
  readonly file: string;
  /** 1-based; 0 when the error is not tied to a line (unreadable file, final checks). */
  readonly line: number;
  /** Everything to log, in order: notices and warnings from before the error, then the error. */
  readonly messages: readonly ConfigMessage[];
  /** Mosquitto's exit status for configuration errors. */
  readonly exitCode = 3;

  /** The fatal lines alone, ending with the "Error found at" line(s). */
  readonly errorLines: readonly string[];

  constructor(
    file: string,
    line: number,
    earlier: readonly ConfigMessage[],
    errorLines: readonly string[],
  ) {
    super(errorLines.join('\n'));
    this.name = 'ConfigError';
    this.file = file;
    this.line = line;
    this.errorLines = errorLines;
    this.messages = [...earlier, ...errorLines.map((text) => ({ type: 'error' as const, text }))];
  }
}

/**
 * Thrown by option handlers: the error text(s) of one line. The parser adds the
 * "Error found at" lines and turns it into a ConfigError. An empty list reproduces the
 * cases where Mosquitto fails without a message (a string value over 65535 bytes).
 */
export class OptionError extends Error {
  readonly lines: readonly string[];
  constructor(...lines: string[]) {
    super(lines.join('\n'));
    this.name = 'OptionError';
    this.lines = lines;
  }
}
