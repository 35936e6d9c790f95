/**
 * The argument scanner (client_config_line_proc): left to right, each word looked up
 * exactly in the option table (no bundling of short flags, no --name=value), the next
 * word taken verbatim as the value even when it starts with '-'. The first problem stops
 * the scan; its message goes to `errors` exactly as Mosquitto prints it.
 */
import type { ToolConfig } from './config.ts';
import { OPTION_BY_NAME } from './options.ts';

export type ScanResult = 'ok' | 'error' | 'help' | 'version';

/** Where messages go: `quietable` ones are suppressed by --quiet (err_printf). */
export type ErrorSink = (text: string, quietable: boolean) => void;

export function scanArguments(
  cfg: ToolConfig,
  argv: readonly string[],
  errors: ErrorSink,
): ScanResult {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] ?? '';
    const spec = OPTION_BY_NAME.get(word);
    if (spec === undefined || !spec.tools.includes(cfg.tool)) {
      errors(`Error: Unknown option '${word}'.\n`, false);
      return 'error';
    }
    if (spec.scan !== undefined) {
      const result = spec.scan(cfg, argv, i);
      if ('error' in result) {
        if (result.error !== '') errors(result.error, false);
        return 'error';
      }
      i = result.next;
      continue;
    }
    const precheck = spec.precheck?.(cfg) ?? null;
    if (precheck !== null) {
      errors(precheck, false);
      return 'error';
    }
    let value = '';
    if (spec.missing !== undefined) {
      if (i === argv.length - 1) {
        errors(spec.missing, false);
        return 'error';
      }
      i++;
      value = argv[i] ?? '';
    }
    const outcome = spec.apply(cfg, value);
    if (outcome === 'help' || outcome === 'version') return outcome;
    if (outcome !== null) {
      if (outcome.error !== '') errors(outcome.error, outcome.quietable === true);
      return 'error';
    }
  }
  return 'ok';
}
