/**
 * The shape of one row of the option table (options.ts) and the small builders that turn
 * a declarative row (name, scope, value type, validator, setter) into the function the
 * parser runs. Value reading reproduces Mosquitto's `conf__parse_bool/int/string` exactly,
 * including their error texts.
 */
import { OptionError } from './errors.ts';
import type { ConfigMessage } from './errors.ts';
import type {
  BridgeDraft,
  ConfigDraft,
  ListenerDraft,
  PluginDraft,
  SecurityDraft,
} from './draft.ts';
import type { LineCursor } from './values.ts';
import { atoi, decodeBytes, isValidMosquittoUtf8, strtolAuto, trimBlanks } from './values.ts';

/**
 * Where an option's value goes:
 * - global: the broker-wide configuration;
 * - listener: the current listener of this file (the default listener before the file's
 *   first `listener` line);
 * - security: per listener with `per_listener_settings true`, else global (these also
 *   trigger the "per_listener_settings must be set before" rule);
 * - bridge: the current `connection` of this file (error without one);
 * - plugin: the current `plugin` of this file (error without one).
 */
export type OptionScope = 'global' | 'listener' | 'security' | 'bridge' | 'plugin';

export interface ScopeTargets {
  global: ConfigDraft;
  listener: ListenerDraft;
  security: SecurityDraft;
  bridge: BridgeDraft;
  plugin: PluginDraft;
}

/** How the value is read: one token, the trimmed rest of the line, or option-specific. */
export type ValueKind = 'bool' | 'int' | 'string' | 'token' | 'custom';

/** The parser state an option handler may use (implemented by parse.ts). */
export interface OptionContext {
  readonly draft: ConfigDraft;
  /** Per-file state: Mosquitto starts every file with no listener, bridge or plugin. */
  readonly file: FileScope;
  readonly cursor: LineCursor;
  /** The option name as written (an alias, or e.g. `plugin_opt_config_file`). */
  readonly token: string;
  /** 0 for the main file, 1 for files read through include_dir. */
  readonly level: number;
  log(type: ConfigMessage['type'], text: string): void;
  /** Records that an option the broker does not implement yet was used. */
  noteUnimplemented(name: string): void;
  /** Reads every `*.conf` of `dir` (include_dir); the path is a binary string. */
  includeDir(dir: string): void;
}

export interface FileScope {
  listener: ListenerDraft;
  bridge: BridgeDraft | null;
  plugin: PluginDraft | null;
}

export interface OptionSpec {
  readonly name: string;
  readonly aliases: readonly string[];
  /** The name is a prefix (`plugin_opt_`): matches every option that starts with it. */
  readonly prefix: boolean;
  readonly scope: OptionScope;
  readonly kind: ValueKind;
  /** false: accepted and stored, but mosquitto-ts does not act on it yet (start-up warning). */
  readonly implemented: boolean;
  /** Taken again on SIGHUP; Mosquitto skips the others when reloading. */
  readonly reloadable: boolean;
  /** One line for documentation. */
  readonly summary: string;
  readonly run: (ctx: OptionContext) => void;
}

interface RowBase<S extends OptionScope> {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly scope: S;
  readonly summary: string;
  /** Defaults to true. */
  readonly implemented?: boolean;
  /** Defaults to true for global and security options, false for the others. */
  readonly reloadable?: boolean;
  /** The name Mosquitto uses in this option's messages; defaults to the name as written. */
  readonly label?: string;
  /** The name is a prefix (`plugin_opt_`): every option starting with it (or an alias). */
  readonly prefix?: boolean;
  /** Runs before the value is read (deprecation notices, conflicts between options). */
  readonly before?: (target: ScopeTargets[S], ctx: OptionContext) => void;
}

export interface BoolRow<S extends OptionScope> extends RowBase<S> {
  readonly set: (target: ScopeTargets[S], value: boolean, ctx: OptionContext) => void;
}

export interface IntRow<S extends OptionScope> extends RowBase<S> {
  /** Mosquitto's range check: the error text, or undefined when the value is acceptable. */
  readonly check?: (value: number) => string | undefined;
  readonly set: (target: ScopeTargets[S], value: number, ctx: OptionContext) => void;
}

export interface StringRow<S extends OptionScope> extends RowBase<S> {
  /** The value already set: a second line is then a "Duplicate" error. Omit to replace. */
  readonly get?: (target: ScopeTargets[S]) => string | null;
  readonly set: (target: ScopeTargets[S], value: string, ctx: OptionContext) => void;
}

export interface CustomRow<S extends OptionScope> extends RowBase<S> {
  readonly kind?: 'token' | 'custom';
  readonly run: (target: ScopeTargets[S], ctx: OptionContext) => void;
}

/** Extra scope errors: which text Mosquitto prints when the bridge/plugin is missing. */
export interface ScopeErrors {
  readonly missingBridge?: string;
  readonly missingPlugin?: string;
}

const DEFAULT_MISSING_BRIDGE = 'Error: Invalid bridge configuration.';

function resolveTarget<S extends OptionScope>(
  scope: S,
  ctx: OptionContext,
  errors: ScopeErrors,
): ScopeTargets[S] {
  const targets: { [K in OptionScope]: () => ScopeTargets[K] } = {
    global: () => ctx.draft,
    listener: () => ctx.file.listener,
    security: () => {
      ctx.draft.securityTouched = true;
      return ctx.draft.perListenerSettings ? ctx.file.listener.security : ctx.draft.security;
    },
    bridge: () => {
      if (ctx.file.bridge === null) {
        throw new OptionError(errors.missingBridge ?? DEFAULT_MISSING_BRIDGE);
      }
      return ctx.file.bridge;
    },
    plugin: () => {
      if (ctx.file.plugin === null) {
        throw new OptionError(errors.missingPlugin ?? 'Error: Invalid plugin configuration.');
      }
      return ctx.file.plugin;
    },
  };
  return targets[scope]();
}

function labelOf(row: { readonly label?: string }, ctx: OptionContext): string {
  return row.label ?? ctx.token;
}

/** `conf__parse_bool`: the next token must be exactly true/false/1/0. */
export function readBool(ctx: OptionContext, label: string): boolean {
  const token = ctx.cursor.nextToken();
  if (token === null) throw new OptionError(`Error: Empty ${label} value in configuration.`);
  if (token === 'true' || token === '1') return true;
  if (token === 'false' || token === '0') return false;
  throw new OptionError(`Error: Invalid ${label} value (${decodeBytes(token)}).`);
}

/** `conf__parse_int`: atoi() of the next token. */
export function readInt(ctx: OptionContext, label: string): number {
  const token = ctx.cursor.nextToken();
  if (token === null) throw new OptionError(`Error: Empty ${label} value in configuration.`);
  return atoi(token);
}

const INT_MIN = -(2n ** 31n);
const INT_MAX = 2n ** 31n - 1n;

/**
 * Mosquitto 2.1's stricter `conf__parse_int`: the whole token must be a C integer
 * (`strtol` base 0, so `0x1f` and octal `017` are accepted, `5x` and `08` are not) within
 * the 32-bit int range. Its texts quote the name, so `label` comes with its quotes.
 */
export function readStrictInt(ctx: OptionContext, label: string): number {
  const token = ctx.cursor.nextToken();
  if (token === null) throw new OptionError(`Error: Empty ${label} value in configuration.`);
  const { value, end } = strtolAuto(token);
  if (end === 0 || end !== token.length) {
    throw new OptionError(`Error: ${label} value not a number.`);
  }
  if (value > INT_MAX || value < INT_MIN) {
    throw new OptionError(`Error: ${label} value out of range.`);
  }
  return Number(value);
}

/**
 * `conf__parse_string`: the rest of the line, trimmed, at most 65535 bytes of strict UTF-8.
 * A value already set is a "Duplicate" error (checked before the value is trimmed, as
 * Mosquitto does).
 */
export function readString(ctx: OptionContext, label: string, current: string | null): string {
  const raw = ctx.cursor.rest();
  if (raw === null) throw new OptionError(`Error: Empty ${label} value in configuration.`);
  if (current !== null) throw new OptionError(`Error: Duplicate ${label} value in configuration.`);
  const value = trimBlanks(raw);
  if (value === '') throw new OptionError(`Error: Empty ${label} value in configuration.`);
  // Mosquitto fails here without printing a message; only "Error found at" follows.
  if (value.length > 65535) throw new OptionError();
  if (!isValidMosquittoUtf8(value)) {
    throw new OptionError('Error: Malformed UTF-8 in configuration.');
  }
  return decodeBytes(value);
}

function spec<S extends OptionScope>(
  row: RowBase<S>,
  kind: ValueKind,
  errors: ScopeErrors,
  body: (target: ScopeTargets[S], ctx: OptionContext) => void,
): OptionSpec {
  const implemented = row.implemented ?? true;
  const prefix = row.prefix ?? false;
  const displayName = prefix ? `${row.name}*` : row.name;
  return {
    name: row.name,
    aliases: row.aliases ?? [],
    prefix,
    scope: row.scope,
    kind,
    implemented,
    reloadable: row.reloadable ?? (row.scope === 'global' || row.scope === 'security'),
    summary: row.summary,
    run: (ctx) => {
      const target = resolveTarget(row.scope, ctx, errors);
      row.before?.(target, ctx);
      body(target, ctx);
      if (!implemented) ctx.noteUnimplemented(displayName);
    },
  };
}

export function bool<S extends OptionScope>(row: BoolRow<S>, errors: ScopeErrors = {}): OptionSpec {
  return spec(row, 'bool', errors, (target, ctx) => {
    row.set(target, readBool(ctx, labelOf(row, ctx)), ctx);
  });
}

export function int<S extends OptionScope>(row: IntRow<S>, errors: ScopeErrors = {}): OptionSpec {
  return spec(row, 'int', errors, (target, ctx) => {
    const value = readInt(ctx, labelOf(row, ctx));
    const problem = row.check?.(value);
    if (problem !== undefined) throw new OptionError(problem);
    row.set(target, value, ctx);
  });
}

/** As int(), with Mosquitto 2.1's stricter reading (readStrictInt). */
export function strictInt<S extends OptionScope>(
  row: IntRow<S>,
  errors: ScopeErrors = {},
): OptionSpec {
  return spec(row, 'int', errors, (target, ctx) => {
    const value = readStrictInt(ctx, labelOf(row, ctx));
    const problem = row.check?.(value);
    if (problem !== undefined) throw new OptionError(problem);
    row.set(target, value, ctx);
  });
}

export function str<S extends OptionScope>(
  row: StringRow<S>,
  errors: ScopeErrors = {},
): OptionSpec {
  return spec(row, 'string', errors, (target, ctx) => {
    const current = row.get === undefined ? null : row.get(target);
    row.set(target, readString(ctx, labelOf(row, ctx), current), ctx);
  });
}

export function custom<S extends OptionScope>(
  row: CustomRow<S>,
  errors: ScopeErrors = {},
): OptionSpec {
  return spec(row, row.kind ?? 'custom', errors, (target, ctx) => {
    row.run(target, ctx);
  });
}
