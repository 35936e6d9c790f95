/**
 * The mosquitto.conf reader. It splits files into lines the way Mosquitto's `fgets` loop
 * does, finds each option's row in the table (options.ts) and runs it, follows
 * `include_dir`, and reports errors with Mosquitto's exact lines. finalize.ts then applies
 * the rules that need the whole file (default listener, local-only mode, defaults).
 *
 * Grammar (features §0): a line is a comment only when its first byte is '#'; the option
 * name ends at the first space (a tab makes it part of the name); blank lines and lines
 * of spaces are skipped; every file starts with no current listener, bridge or plugin.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { ConfigError, OptionError } from './errors.ts';
import type { ConfigMessage } from './errors.ts';
import type { ConfigDraft } from './draft.ts';
import { newConfigDraft } from './draft.ts';
import { finalizeConfig } from './finalize.ts';
import type { FileScope, OptionContext } from './option-spec.ts';
import { findOption } from './options.ts';
import type { BrokerConfig } from './types.ts';
import { LineCursor, decodeBytes } from './values.ts';

/** File access, injectable so tests can run without touching the disk. */
export interface ConfigFileSystem {
  /** Throws when the file cannot be read. */
  readFile(path: string): Buffer;
  isDirectory(path: string): boolean;
  /** The entry names of a directory; throws when it cannot be read. */
  readDir(path: string): string[];
}

export const nodeFileSystem: ConfigFileSystem = {
  readFile: (path) => readFileSync(path),
  isDirectory: (path) => {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  },
  readDir: (path) => readdirSync(path),
};

export interface LoadOptions {
  /** `-v`: log every type, whatever log_type says. */
  readonly verbose?: boolean;
  readonly fs?: ConfigFileSystem;
  /** For the default bridge client ids (`<hostname>.<connection>`); os.hostname() if absent. */
  readonly hostname?: string;
}

export interface LoadedConfig {
  readonly config: BrokerConfig;
  /**
   * The warnings and non-fatal errors of `messages`, as text: options mosquitto-ts does
   * not implement yet, deprecated options, empty values Mosquitto tolerates.
   */
  readonly warnings: string[];
  /** Everything Mosquitto would log while reading the file, in order, with its type. */
  readonly messages: ConfigMessage[];
}

/**
 * Reads a mosquitto.conf (and its include_dir files) the way `mosquitto -c <path>` does.
 * `cliPorts` are the `-p` ports: used only when the file leaves the broker in local-only
 * mode (no listener, port or bind_address), as in Mosquitto 2.0. Throws ConfigError.
 */
export function loadConfigFile(
  path: string,
  cliPorts: readonly number[] = [],
  options: LoadOptions = {},
): LoadedConfig {
  const reader = new ConfigReader(options.fs ?? nodeFileSystem);
  reader.readMainFile(path, null);
  return reader.finish(cliPorts, options);
}

/** As loadConfigFile, for text already in memory (`fileName` is used in messages). */
export function parseConfigText(
  text: string | Buffer,
  fileName: string,
  cliPorts: readonly number[] = [],
  options: LoadOptions = {},
): LoadedConfig {
  const reader = new ConfigReader(options.fs ?? nodeFileSystem);
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  reader.readMainFile(fileName, bytes.toString('latin1'));
  return reader.finish(cliPorts, options);
}

/** A failed file: the error lines so far, the failing line of this file (0: none). */
class FileFailure extends Error {
  constructor(
    readonly lines: readonly string[],
    readonly lineNumber: number,
    readonly innerFile: string,
    readonly innerLine: number,
  ) {
    super(lines.join('\n'));
  }
}

/** An include_dir file failed: its lines, and where the innermost fault is. */
class IncludeFailure extends OptionError {
  constructor(
    lines: readonly string[],
    readonly innerFile: string,
    readonly innerLine: number,
  ) {
    super(...lines);
  }
}

class ConfigReader {
  readonly draft: ConfigDraft = newConfigDraft();
  readonly messages: ConfigMessage[] = [];
  readonly #unimplemented = new Set<string>();
  readonly #fs: ConfigFileSystem;

  constructor(fs: ConfigFileSystem) {
    this.#fs = fs;
  }

  readMainFile(path: string, bytes: string | null): void {
    try {
      if (bytes === null) this.#readFile(path, 0);
      else this.#readText(bytes, path, 0);
    } catch (error) {
      if (!(error instanceof FileFailure)) throw error;
      const lines = [...error.lines];
      if (error.lineNumber > 0) lines.push(`Error found at ${path}:${error.lineNumber}.`);
      throw new ConfigError(error.innerFile, error.innerLine, this.messages, lines);
    }
  }

  finish(cliPorts: readonly number[], options: LoadOptions): LoadedConfig {
    const config = finalizeConfig(this.draft, {
      cliPorts,
      verbose: options.verbose ?? false,
      hostname: options.hostname,
      unimplemented: [...this.#unimplemented],
      fail: (text) => new ConfigError('', 0, this.messages, [text]),
    });
    const warnings = this.messages
      .filter((m) => m.type === 'warning' || m.type === 'error')
      .map((m) => m.text);
    return { config, warnings, messages: this.messages };
  }

  #log(type: ConfigMessage['type'], text: string): void {
    this.messages.push({ type, text });
  }

  #readFile(path: string, level: number): void {
    if (this.#fs.isDirectory(path)) {
      throw new FileFailure([`Error: Config file ${path} is a directory.`], 0, path, 0);
    }
    let bytes: Buffer;
    try {
      bytes = this.#fs.readFile(path);
    } catch {
      throw new FileFailure([`Error: Unable to open config file ${path}.`], 0, path, 0);
    }
    this.#readText(bytes.toString('latin1'), path, level);
  }

  /** `text` is a binary string: one char per byte of the file. */
  #readText(text: string, path: string, level: number): void {
    const lines = text.split('\n');
    // A final newline does not start another line.
    if (lines.at(-1) === '') lines.pop();
    const file: FileScope = { listener: this.draft.defaultListener, bridge: null, plugin: null };
    for (let index = 0; index < lines.length; index++) {
      const lineNumber = index + 1;
      let line = lines[index] ?? '';
      // C string functions stop at a NUL byte.
      const nul = line.indexOf('\0');
      if (nul !== -1) line = line.slice(0, nul);
      if (line === '' || line.startsWith('#') || line.startsWith('\r')) continue;
      let end = line.length;
      while (end > 0 && line.charCodeAt(end - 1) === 0x0d) end--;
      const cursor = new LineCursor(line.slice(0, end));
      const token = cursor.nextToken();
      if (token === null) continue;
      try {
        this.#runOption(token, cursor, file, level);
      } catch (error) {
        if (error instanceof IncludeFailure) {
          throw new FileFailure(error.lines, lineNumber, error.innerFile, error.innerLine);
        }
        if (error instanceof OptionError) {
          throw new FileFailure(error.lines, lineNumber, path, lineNumber);
        }
        throw error;
      }
    }
  }

  #runOption(token: string, cursor: LineCursor, file: FileScope, level: number): void {
    const option = findOption(token);
    if (option === undefined) {
      throw new OptionError(`Error: Unknown configuration variable "${decodeBytes(token)}".`);
    }
    const context: OptionContext = {
      draft: this.draft,
      file,
      cursor,
      token,
      level,
      log: (type, text) => {
        this.#log(type, text);
      },
      noteUnimplemented: (name) => {
        if (this.#unimplemented.has(name)) return;
        this.#unimplemented.add(name);
        this.#log(
          'warning',
          `Warning: mosquitto-ts does not implement the '${name}' option yet; it is accepted and ignored.`,
        );
      },
      includeDir: (dir) => {
        this.#includeDir(decodeBytes(dir));
      },
    };
    option.run(context);
  }

  /** Every `*.conf` of `dir` (names longer than 5 bytes), in Mosquitto's order. */
  #includeDir(dir: string): void {
    let names: string[];
    try {
      names = this.#fs.readDir(dir);
    } catch {
      throw new OptionError(`Error: Unable to open include_dir '${dir}'.`);
    }
    const files = names
      .filter((name) => Buffer.byteLength(name) > 5 && name.endsWith('.conf'))
      .sort(compareIncludeNames)
      .map((name) => `${dir}/${name}`);
    for (const path of files) {
      this.#log('information', `Loading config file ${path}`);
      try {
        this.#readFile(path, 1);
      } catch (error) {
        if (!(error instanceof FileFailure)) throw error;
        const lines = [...error.lines];
        if (error.lineNumber > 0) lines.push(`Error found at ${path}:${error.lineNumber}.`);
        throw new IncludeFailure(lines, error.innerFile, error.innerLine);
      }
    }
  }
}

/**
 * Mosquitto's include_dir order: compare character by character, case-insensitively
 * first; at the first pair equal but for case, the uppercase one (smaller byte) wins;
 * a prefix sorts first. So `00.conf 01.conf A.conf a.conf B.conf b.conf`.
 */
export function compareIncludeNames(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    const upper = toUpperAscii(ca) - toUpperAscii(cb);
    if (upper !== 0) return upper;
    if (ca !== cb) return ca - cb;
  }
  return a.length - b.length;
}

function toUpperAscii(code: number): number {
  return code >= 0x61 && code <= 0x7a ? code - 0x20 : code;
}
