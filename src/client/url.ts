/**
 * Broker URLs for the library: mqtt:// (tcp://), mqtts:// (ssl://, tls://), ws://,
 * wss:// and unix:///path/to/socket, each with optional user:password@. The command-line
 * `-L` option has its own, stricter grammar (cli/args/url.ts).
 */
import { ClientErrorCode, MosqErr, MqttClientError } from './errors.ts';

export interface ParsedBrokerUrl {
  readonly transport: 'tcp' | 'tls' | 'ws' | 'wss' | 'unix';
  readonly host: string;
  readonly port: number | undefined;
  readonly path: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
}

const SCHEMES: Readonly<Record<string, ParsedBrokerUrl['transport']>> = {
  'mqtt:': 'tcp',
  'tcp:': 'tcp',
  'mqtts:': 'tls',
  'ssl:': 'tls',
  'tls:': 'tls',
  'ws:': 'ws',
  'wss:': 'wss',
  'unix:': 'unix',
};

export function parseBrokerUrl(text: string): ParsedBrokerUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch (error) {
    throw new MqttClientError(
      ClientErrorCode.InvalidArgument,
      MosqErr.Inval,
      `invalid broker URL: ${text}`,
      { cause: error },
    );
  }
  const transport = SCHEMES[url.protocol.toLowerCase()];
  if (transport === undefined) {
    throw new MqttClientError(
      ClientErrorCode.InvalidArgument,
      MosqErr.Inval,
      `unsupported URL scheme: ${url.protocol}`,
    );
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return {
    transport,
    host: transport === 'unix' ? '' : host,
    port: url.port === '' ? undefined : Number(url.port),
    path: decodeURIComponent(url.pathname),
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
  };
}
