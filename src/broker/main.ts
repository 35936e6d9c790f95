/**
 * `mosquitto [-c file] [-d] [-p port]... [-v] [-h]`: the broker as a program, in this
 * process (bin/mosquitto imports it, so signals from supervisors reach it directly).
 * Startup and shutdown follow Mosquitto's sequence and log lines; SIGINT/SIGTERM stop
 * cleanly (exit 0, saving the persistent database), SIGHUP reloads the configuration (log
 * settings, password and ACL files, certificates), SIGUSR1 saves the persistent database,
 * SIGUSR2 prints the subscription tree.
 */
import { spawn } from 'node:child_process';
import { systemClock } from '../common/clock.ts';
import type { BrokerConfig, LogType } from './config/types.ts';
import { ALL_LOG_TYPES, defaultConfig } from './config/types.ts';
import { ConfigError } from './config/errors.ts';
import { loadConfigFile } from './config/parse.ts';
import { Logger } from './log.ts';
import type { BrokerOptions } from './broker.ts';
import { Broker } from './broker.ts';
import { ListenError, reloadListeners } from './listeners.ts';
import { SecurityFileError } from './security/broker-security.ts';
import { BROKER_VERSION_TEXT } from './version.ts';
import { parseBrokerArgs } from './args.ts';
import { StoreError } from './persistence/store.ts';
import { PluginError } from './plugins/host.ts';

/** Runs the broker until a signal stops it. Sets process.exitCode on failure. */
/** How long SIGINT/SIGTERM lets received bytes be handled before closing (see stop()). */
const SHUTDOWN_GRACE_MS = 50;

export async function main(argv: readonly string[], options: BrokerOptions = {}): Promise<void> {
  const parsed = parseBrokerArgs(argv);
  if (parsed.kind === 'exit') {
    process.stdout.write(parsed.stdout);
    process.stderr.write(parsed.stderr);
    if (parsed.logError !== null) {
      const logger = new Logger(defaultConfig().log);
      logger.error(parsed.logError);
      logger.close();
    }
    process.exitCode = parsed.exitCode;
    return;
  }
  const commandLine = parsed.args;
  if (commandLine.daemon) {
    daemonize(argv);
    return;
  }

  let config: BrokerConfig;
  let configMessages: { type: LogType; text: string }[] = [];
  if (commandLine.configFile !== null) {
    try {
      const loaded = loadConfigFile(commandLine.configFile, commandLine.ports, {
        verbose: commandLine.verbose,
      });
      config = loaded.config;
      configMessages = loaded.messages.map((m) => ({ type: m.type, text: m.text }));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const logger = new Logger(defaultConfig().log, { flushOnExit: true });
      for (const message of error.messages) logger.log(message.type, message.text);
      logger.close();
      process.exitCode = error.exitCode;
      return;
    }
  } else {
    const base = defaultConfig(commandLine.ports.length > 0 ? commandLine.ports : [1883]);
    config = commandLine.verbose ? { ...base, log: { ...base.log, types: ALL_LOG_TYPES } } : base;
  }

  const logger = new Logger(config.log, { flushOnExit: true });
  logger.info(`mosquitto version ${BROKER_VERSION_TEXT} starting`);
  if (commandLine.configFile !== null) logger.info(`Config loaded from ${commandLine.configFile}.`);
  else logger.info('Using default config.');
  for (const message of configMessages) logger.log(message.type, message.text);
  if (config.localOnly) {
    logger.warning(
      'Starting in local only mode. Connections will only be possible from clients running on this machine.',
    );
    logger.warning('Create a configuration file which defines a listener to allow remote access.');
    logger.warning(
      'For more details see https://mosquitto.org/documentation/authentication-methods/',
    );
  }

  const broker = new Broker(config, systemClock, logger, options);
  logger.setTopicPublisher((topic, line) => {
    broker.publishLogLine(topic, line);
  });
  // Signal handlers first: a supervisor may signal as soon as the process exists.
  let running = false;
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`mosquitto version ${BROKER_VERSION_TEXT} terminating`);
    // A short grace for input already on its way: an acknowledgement the peer sent just
    // before the signal (a bridge's PUBACK, say) is then recorded and saved, so its
    // message is not resent after the restart. Mosquitto finishes its loop pass; Node
    // may read the signal before that data, and wakes later than C code does.
    setTimeout(() => {
      void broker.close().then(() => {
        logger.close();
        process.exit(0);
      });
    }, SHUTDOWN_GRACE_MS);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', () => {
    // Installed before the listeners open so an early SIGHUP cannot kill the process.
    if (!running) return;
    logger.info('Reloading config.');
    if (commandLine.configFile === null) return;
    try {
      const reloaded = loadConfigFile(commandLine.configFile, commandLine.ports, {
        verbose: commandLine.verbose,
      });
      logger.reconfigure(reloaded.config.log);
      broker.reload(reloaded.config);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const message of error.messages) logger.log(message.type, message.text);
      // Mosquitto reloads certificates whatever became of the config file.
      reloadListeners(broker);
    }
  });
  process.on('SIGUSR1', () => {
    // Save the persistent database now (nothing without persistence), as Mosquitto.
    if (running) broker.saveNow();
  });
  process.on('SIGUSR2', () => {
    process.stdout.write(
      broker
        .dumpSubscriptions()
        .map((line) => `${line}\n`)
        .join(''),
    );
  });
  try {
    await broker.start();
  } catch (error) {
    if (error instanceof PluginError) {
      logger.error(error.message);
      logger.close();
      process.exitCode = 1;
      return;
    }
    if (error instanceof StoreError) {
      // A store that cannot even be opened (an unreadable one is moved aside instead).
      logger.error(`Error: ${error.message}`);
      logger.close();
      process.exitCode = 1;
      return;
    }
    if (!(error instanceof ListenError) && !(error instanceof SecurityFileError)) throw error;
    logger.close();
    process.exitCode = error.exitCode;
    return;
  }
  running = true;
  logger.info(`mosquitto version ${BROKER_VERSION_TEXT} running`);
}

/** -d: run again detached, without -d and with no terminal, and return at once. */
function daemonize(argv: readonly string[]): void {
  const args = argv.filter((arg) => arg !== '-d' && arg !== '--daemon');
  const script = process.argv[1];
  if (script === undefined) return;
  // With Node's own flags (bin/mosquitto's memory settings); the environment is inherited.
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
}
