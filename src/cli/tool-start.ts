/**
 * The opening every client tool shares: scan argv and the options file, and answer
 * --help, --version and argument errors the way client_shared.c does.
 */
import type { Tool, ToolConfig } from './args/config.ts';
import { loadConfig } from './args/load.ts';
import type { ToolIo } from './io.ts';

/** The tool's configuration, or the exit status when the tool is already done. */
export async function startTool(
  tool: Tool,
  argv: readonly string[],
  io: ToolIo,
): Promise<ToolConfig | number> {
  const loaded = loadConfig(tool, argv, io.env, (text) => {
    io.err(text);
  });
  switch (loaded.result) {
    case 'help':
      // The usage text is loaded only when printed (start-up time).
      io.out((await import('./args/help.ts')).usageText(tool));
      return 1;
    case 'version':
      io.out((await import('./args/help.ts')).versionText(tool));
      return 1;
    case 'error':
      io.err(`\nUse 'mosquitto_${tool} --help' to see usage.\n`);
      return 1;
    case 'ok':
      return loaded.cfg;
  }
}
