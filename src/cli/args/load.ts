/**
 * client_config_load: defaults, then the options file, then argv, then the checks that
 * need everything (will payload without topic, certificate without key, client id for
 * persistent sessions, session expiry property, property lists). The caller prints
 * "Use 'mosquitto_xxx --help' to see usage." after an error, as the tools do.
 */
import { initConfig, type Tool, type ToolConfig } from './config.ts';
import { optionsFilePath, readOptionsFile } from './options-file.ts';
import { checkAllProperties } from './properties.ts';
import { scanArguments, type ErrorSink, type ScanResult } from './scan.ts';

export interface LoadResult {
  readonly result: ScanResult;
  readonly cfg: ToolConfig;
}

export function loadConfig(
  tool: Tool,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  errors: ErrorSink,
): LoadResult {
  const cfg = initConfig(tool);
  const done = (result: ScanResult): LoadResult => ({ result, cfg });
  // err_printf checks --quiet as it stands when the message is printed.
  const sink: ErrorSink = (text, quietable) => {
    if (!(quietable && cfg.quiet)) errors(text, quietable);
  };

  const path = optionsFilePath(tool, env);
  if (path !== null) {
    for (const words of readOptionsFile(path)) {
      const result = scanArguments(cfg, words, sink);
      if (result !== 'ok') return done(result);
    }
  }
  const result = scanArguments(cfg, argv, sink);
  if (result !== 'ok') return done(result);

  const fail = (text: string, quietable = false): LoadResult => {
    sink(text, quietable);
    return done('error');
  };
  if (cfg.willPayload !== null && cfg.willTopic === null) {
    return fail('Error: Will payload given, but no will topic given.\n');
  }
  if (cfg.willRetain && cfg.willTopic === null) {
    return fail('Error: Will retain given, but no will topic given.\n');
  }
  if ((cfg.certfile === null) !== (cfg.keyfile === null)) {
    return fail('Error: Both certfile and keyfile must be provided if one of them is set.\n');
  }
  if (cfg.keyform !== null && cfg.keyfile === null) {
    return fail('Error: If keyform is set, keyfile must be also specified.\n');
  }
  if (cfg.tlsEngineKpassSha1 !== null && (cfg.keyform === null || cfg.tlsEngine === null)) {
    return fail(
      'Error: when using tls-engine-kpass-sha1, both tls-engine and keyform must also be provided.\n',
    );
  }
  if ((cfg.cafile !== null || cfg.capath !== null) && cfg.psk !== null) {
    return fail('Error: Only one of --psk or --cafile/--capath may be used at once.\n');
  }
  if (cfg.psk !== null && cfg.pskIdentity === null) {
    return fail('Error: --psk-identity required if --psk used.\n');
  }
  if (cfg.protocolVersion === 5) {
    if (!cfg.cleanSession && cfg.sessionExpiryInterval === -1) {
      // -c without -x: a session that never expires.
      cfg.sessionExpiryInterval = 0xffff_ffff;
    }
    if (cfg.sessionExpiryInterval > 0) {
      if (cfg.sessionExpiryInterval === 0xffff_ffff && (cfg.idPrefix !== null || cfg.id === null)) {
        return fail(
          'Error: You must provide a client id if you are using an infinite session expiry interval.\n',
        );
      }
      cfg.properties.connect.push({
        name: 'sessionExpiryInterval',
        value: cfg.sessionExpiryInterval,
      });
    }
  } else if (!cfg.cleanSession && (cfg.idPrefix !== null || cfg.id === null)) {
    return fail('Error: You must provide a client id if you are using the -c option.\n');
  }
  if (tool === 'sub' && cfg.topics.length === 0) {
    return fail('Error: You must specify a topic to subscribe to.\n');
  }
  cfg.host ??= 'localhost';
  const propertyProblem = checkAllProperties(cfg);
  if (propertyProblem !== null) return fail(propertyProblem, true);
  return done('ok');
}
