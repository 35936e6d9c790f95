/**
 * The shell's broker mode (ctrl_shell_broker.c of Mosquitto 2.1): listPlugins and
 * listListeners on `$CONTROL/broker/v1`, printed as labelled blocks.
 */
import {
  completionTree,
  jsonString,
  lower,
  member,
  plain,
  type ShellHost,
  type ShellModule,
  type Words,
} from './ctrl-shell-module.ts';

export function brokerModule(host: ShellHost): ShellModule {
  const out = host.output;
  const c = out.colours;

  function help(words: Words): void {
    const command = words.next();
    if (command === null) {
      out.print(
        'This is the mosquitto_ctrl interactive shell, for controlling aspects of a mosquitto broker.\n' +
          'You are in broker mode, for controlling some core broker functionality.\n' +
          `Use '${c.input}return${c.reset}' to leave this mode.\n` +
          `Find help on a command using '${c.input}help <command>${c.reset}'\n` +
          'Press tab multiple times to find currently available commands.\n\n',
      );
    } else if (lower(command) === 'listplugins') {
      out.helpCommand('listPlugins');
      out.print('\nLists currently loaded plugins.\n');
    } else if (lower(command) === 'listlisteners') {
      out.helpCommand('listListeners');
      out.print('\nLists current listeners.\n');
    } else {
      host.helpFinal(command, 'broker');
    }
  }

  function printPlugins(data: Record<string, unknown>): void {
    const plugins = member(data, 'plugins');
    if (!Array.isArray(plugins)) return;
    for (const plugin of plugins) {
      const name = jsonString(plugin, 'name');
      if (name === null) {
        out.print('Invalid response from broker.\n');
        return;
      }
      out.label(0, 'Plugin:');
      out.value(1, `${name}\n`);
      const endpoints = member(plugin, 'control-endpoints');
      if (endpoints !== undefined) {
        out.label(0, 'Control endpoints:');
        if (Array.isArray(endpoints)) {
          for (const endpoint of endpoints) {
            out.value(1, `${typeof endpoint === 'string' ? endpoint : '(null)'}\n`);
          }
        }
      }
      out.value(0, '\n');
    }
  }

  function printListeners(data: Record<string, unknown>): void {
    const listeners = member(data, 'listeners');
    if (!Array.isArray(listeners)) return;
    for (const listener of listeners) {
      const port = member(listener, 'port');
      const protocol = jsonString(listener, 'protocol');
      const tls = member(listener, 'tls');
      if (typeof port !== 'number' || protocol === null || typeof tls !== 'boolean') {
        out.print('Invalid response from broker.\n');
        return;
      }
      out.label(0, 'Listener:');
      out.label(1, 'Port:');
      out.value(2, `${Math.trunc(port)}\n`);
      out.label(1, 'Protocol:');
      out.value(2, `${protocol}\n`);
      out.label(1, 'TLS:');
      out.value(2, `${tls ? 'true' : 'false'}\n\n`);
    }
  }

  return {
    name: 'broker',
    requestTopic: '$CONTROL/broker/v1',
    responseTopic: '$CONTROL/broker/v1/response',
    commands: completionTree(plain('listPlugins', 'listListeners', 'disconnect', 'return', 'exit')),
    async run(command, words) {
      switch (lower(command)) {
        case 'listplugins':
          await host.publish({ command: 'listPlugins' });
          return true;
        case 'listlisteners':
          await host.publish({ command: 'listListeners' });
          return true;
        case 'help':
          help(words);
          return true;
        default:
          return false;
      }
    },
    onResponse(command, data, payload) {
      if (command === 'listPlugins') printPlugins(data);
      else if (command === 'listListeners') printListeners(data);
      else out.print(`${command} ${payload}\n`);
    },
    onSubscribe: () => Promise.resolve(),
  };
}
