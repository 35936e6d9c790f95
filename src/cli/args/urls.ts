/**
 * The two URL arguments, parsed the way client_shared.c does it (by hand, not by a URL
 * library): `-L mqtt(s)://[user[:pass]@]host[:port]/topic` and
 * `--proxy socks5h://[user[:pass]@]host[:port]`.
 */
import { atoi } from './c-numbers.ts';

export type BrokerUrl =
  | {
      readonly ok: true;
      readonly tls: boolean;
      readonly topic: string;
      readonly username: string | null;
      readonly password: string | null;
      readonly host: string;
      readonly port: number;
    }
  | { readonly ok: false; readonly error: string };

/** `-L`: errors are the exact texts; the topic is validated by the caller. */
export function parseBrokerUrlArgument(text: string): BrokerUrl {
  let rest: string;
  let port: number;
  let tls: boolean;
  if (text.slice(0, 7).toLowerCase() === 'mqtt://') {
    rest = text.slice(7);
    port = 1883;
    tls = false;
  } else if (text.slice(0, 8).toLowerCase() === 'mqtts://') {
    rest = text.slice(8);
    port = 8883;
    tls = true;
  } else {
    return { ok: false, error: 'Error: unsupported URL scheme.\n\n' };
  }
  const slash = rest.indexOf('/');
  if (slash < 0) {
    return { ok: false, error: 'Error: Invalid URL for -L argument specified - topic missing.\n' };
  }
  const topic = rest.slice(slash + 1);
  let authority = rest.slice(0, slash);
  let username: string | null = null;
  let password: string | null = null;
  const at = authority.indexOf('@');
  if (at >= 0) {
    const credentials = authority.slice(0, at);
    const colon = credentials.indexOf(':');
    if (colon >= 0) {
      password = credentials.slice(colon + 1);
      username = credentials.slice(0, colon);
    } else {
      username = credentials;
    }
    authority = authority.slice(at + 1);
  }
  let host = authority;
  const colon = authority.indexOf(':');
  if (colon >= 0) {
    host = authority.slice(0, colon);
    port = atoi(authority.slice(colon + 1));
  }
  return { ok: true, tls, topic, username, password, host, port };
}

export type ProxyUrl =
  | {
      readonly ok: true;
      readonly host: string;
      readonly port: number;
      readonly username: string | null;
      readonly password: string | null;
    }
  /** `error` is printed with err_printf (suppressed by --quiet); '' is a silent failure. */
  | { readonly ok: false; readonly error: string };

/**
 * Mosquitto's URL decoding of proxy credentials: %25 -> '%', %3A/%3a -> ':' and, a 2.0
 * bug kept for compatibility, %40 -> ':' (not '@'). Anything else after '%' fails.
 */
function urlDecode(value: string | null): string | null | false {
  if (value === null || !value.includes('%')) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (c !== '%') {
      out += c;
      continue;
    }
    if (i + 2 >= value.length) return false;
    const code = value.slice(i + 1, i + 3);
    if (code === '25') out += '%';
    else if (code === '3A' || code === '3a' || code === '40') out += ':';
    else return false;
    i += 2;
  }
  return out;
}

/** `--proxy`, with mosquitto__parse_socks_url's grammar and messages. */
export function parseProxyUrl(url: string): ProxyUrl {
  const prefix = 'socks5h://';
  if (!url.startsWith(prefix)) {
    return { ok: false, error: `Error: Unsupported proxy protocol: ${url}\n` };
  }
  const str = url.slice(prefix.length);
  const silent: ProxyUrl = { ok: false, error: '' };
  let username: string | null = null;
  let password: string | null = null;
  let host: string | null = null;
  let port: string | null = null;
  let usernameOrHost: string | null = null;
  let haveAuth = false;
  let start = 0;
  let i = 0;
  for (; i < str.length; i++) {
    const c = str[i];
    if (c === ':') {
      if (i === start) return silent;
      if (haveAuth) {
        if (host !== null) return silent;
        host = str.slice(start, i);
        start = i + 1;
      } else if (usernameOrHost === null) {
        usernameOrHost = str.slice(start, i);
        start = i + 1;
      }
    } else if (c === '@') {
      if (i === start) return silent;
      haveAuth = true;
      if (usernameOrHost !== null) {
        username = usernameOrHost;
        usernameOrHost = null;
        password = str.slice(start, i);
        start = i + 1;
      } else {
        if (username !== null) return silent;
        username = str.slice(start, i);
        start = i + 1;
      }
    }
  }
  if (i > start) {
    const tail = str.slice(start, i);
    if (host !== null) {
      port = tail;
    } else if (usernameOrHost !== null) {
      host = usernameOrHost;
      port = tail;
    } else {
      host = tail;
    }
  }
  if (host === null) return { ok: false, error: 'Error: Invalid proxy.\n' };
  const user = urlDecode(username);
  const pass = urlDecode(password);
  if (user === false || pass === false) return silent;
  let portNumber = 1080;
  if (port !== null) {
    portNumber = atoi(port);
    if (portNumber < 1 || portNumber > 65_535) {
      return { ok: false, error: `Error: Invalid proxy port ${portNumber}\n` };
    }
  }
  return { ok: true, host, port: portNumber, username: user, password: pass };
}
