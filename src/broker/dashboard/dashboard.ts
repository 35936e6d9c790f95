/**
 * The live web dashboard (ours): `/` and `/dashboard/...` on every http_api listener.
 * Static page and JSON endpoints polled by it, a login against the broker's own
 * authentication, a Server-Sent Events stream for the live message view and one action,
 * disconnecting a client. Access rules: access.ts; logins and CSRF: login-sessions.ts.
 *
 *   GET  /                                the page (dashboard/index.html); with http_dir
 *                                         the files have `/` and the page is /dashboard/
 *   GET  /dashboard/app.js, style.css     its script and style
 *   GET  /dashboard/api/session           {access, username, csrfToken, canAct}
 *   POST /dashboard/login, /dashboard/logout
 *   GET  /dashboard/api/overview|clients|topics|listeners|bridges
 *   GET  /dashboard/api/messages?filter=  text/event-stream
 *   POST /dashboard/api/disconnect        {clientId}, with X-CSRF-Token
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpApiListenerRef } from '../http-api/routes.ts';
import type { PluginClient } from '../plugins/api.ts';
import { ConnectionState } from '../client-connection.ts';
import { accessLogLine, dashboardAccess } from './access.ts';
import type { DashboardAccess } from './access.ts';
import { dashboardAsset } from './assets.ts';
import type { DashboardHost, DashboardMessage } from './host.ts';
import { liveFilterProblem, streamMessages } from './live-view.ts';
import type { DashboardLogin } from './login-sessions.ts';
import { LoginSessions, csrfMatches, loginCookie } from './login-sessions.ts';
import { noteRefusedFrom } from '../security/login-limit.ts';
import { RateHistory } from './rates.ts';
import { bridgesJson, clientsJson, listenersJson, overviewJson, topicsJson } from './views.ts';

/** Request bodies (login, disconnect) are small JSON objects. */
const MAX_BODY_BYTES = 4096;

const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

const ASSET_PATHS: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/dashboard/': 'index.html',
  '/dashboard/app.js': 'app.js',
  '/dashboard/style.css': 'style.css',
};

/** Who is asking: the listener's access mode and, with logins, the login. */
interface Caller {
  readonly access: DashboardAccess;
  readonly login: DashboardLogin | null;
  readonly token: string | null;
}

export class Dashboard {
  readonly #host: DashboardHost;
  readonly #logins = new LoginSessions();
  readonly rates = new RateHistory();
  #sampler: NodeJS.Timeout | null = null;
  readonly #countTopic = (message: DashboardMessage): void => {
    this.rates.countTopic(message.topic);
  };

  constructor(host: DashboardHost) {
    this.#host = host;
    const serve = (
      request: IncomingMessage,
      response: ServerResponse,
      listener: HttpApiListenerRef,
    ): Promise<boolean> => this.#serve(request, response, listener);
    host.httpRoutes.add({ path: '/', serve });
    host.httpRoutes.add({ path: '/dashboard/', prefix: true, serve });
  }

  /** After the listeners opened: logs each http_api listener's access, starts sampling. */
  start(): void {
    const config = this.#host.config;
    const httpListeners = this.#host.listenerSockets.filter(
      (l) => l.config.protocol === 'http_api',
    );
    for (const listener of httpListeners) {
      const line = accessLogLine(config, listener.config, listener.port);
      if (dashboardAccess(config, listener.config) === 'refused') this.#host.log.warning(line);
      else this.#host.log.info(line);
    }
    if (httpListeners.some((l) => dashboardAccess(config, l.config) !== 'refused')) {
      this.#host.on('messagePublished', this.#countTopic);
      this.#sampler = setInterval(() => {
        this.#sample();
      }, 1000);
      this.#sampler.unref();
    }
  }

  stop(): void {
    if (this.#sampler !== null) clearInterval(this.#sampler);
    this.#sampler = null;
    this.#host.off('messagePublished', this.#countTopic);
  }

  #sample(): void {
    let clients = 0;
    for (const conn of this.#host.connections) {
      if (conn.state === ConnectionState.Connected) clients++;
    }
    const metrics = this.#host.metrics;
    this.rates.sample(Date.now(), metrics.publishReceived, metrics.publishSent, clients);
  }

  /** Answers a dashboard request (false: `/` belongs to http_dir on this listener). */
  async #serve(
    request: IncomingMessage,
    response: ServerResponse,
    listener: HttpApiListenerRef,
  ): Promise<boolean> {
    const path = (request.url ?? '/').split('?', 1)[0];
    if (path === '/' && listener.config.httpDir != null) return false;
    await this.#answer(request, response, listener);
    return true;
  }

  async #answer(
    request: IncomingMessage,
    response: ServerResponse,
    listener: HttpApiListenerRef,
  ): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://dashboard');
    const path = url.pathname;
    const access = dashboardAccess(this.#host.config, listener.config);
    if (access === 'refused') {
      answerText(
        response,
        403,
        'The dashboard is off on this listener: dashboard_users is not set and the listener is not a loopback one.\n',
      );
      return;
    }
    const method = request.method ?? 'GET';
    const asset = ASSET_PATHS[path];
    if (asset !== undefined) {
      if (method !== 'GET') {
        answerText(response, 405, 'Method not allowed\n');
        return;
      }
      const file = dashboardAsset(asset);
      if (file === null) {
        answerText(response, 404, 'Not found.\n');
        return;
      }
      response.writeHead(200, { ...PAGE_HEADERS, 'Content-Type': file.contentType });
      response.end(file.body);
      return;
    }
    const caller = this.#caller(request, access);
    const secure = listener.config.tls?.certfile != null;
    if (path === '/dashboard/login' && method === 'POST') {
      await this.#login(request, response, listener, access, secure);
      return;
    }
    if (path === '/dashboard/logout' && method === 'POST') {
      if (caller.token !== null) this.#logins.delete(caller.token);
      answerJson(response, 200, { loggedOut: true }, { 'Set-Cookie': loginCookie('', secure) });
      return;
    }
    if (path === '/dashboard/api/session') {
      answerJson(response, 200, {
        access,
        username: caller.login?.username ?? null,
        csrfToken: caller.login?.csrfToken ?? null,
        canAct: caller.login !== null,
      });
      return;
    }
    if (access === 'login' && caller.login === null) {
      answerJson(response, 401, { error: 'Log in first.' });
      return;
    }
    if (method === 'POST' && path === '/dashboard/api/disconnect') {
      await this.#disconnect(request, response, caller);
      return;
    }
    if (method !== 'GET') {
      answerText(response, 405, 'Method not allowed\n');
      return;
    }
    this.#read(path, url, caller, listener, request, response);
  }

  #caller(request: IncomingMessage, access: DashboardAccess): Caller {
    if (access !== 'login') return { access, login: null, token: null };
    const found = this.#logins.find(request.headers.cookie);
    if (found === null) return { access, login: null, token: null };
    // A user taken out of dashboard_users (reload) loses the login at once.
    if (!(this.#host.config.dashboardUsers ?? []).includes(found.login.username)) {
      this.#logins.delete(found.token);
      return { access, login: null, token: null };
    }
    return { access, login: found.login, token: found.token };
  }

  #read(
    path: string,
    url: URL,
    caller: Caller,
    listener: HttpApiListenerRef,
    request: IncomingMessage,
    response: ServerResponse,
  ): void {
    const host = this.#host;
    switch (path) {
      case '/dashboard/api/overview': {
        answerJson(response, 200, overviewJson(host, this.rates));
        return;
      }
      case '/dashboard/api/clients': {
        answerJson(response, 200, clientsJson(host));
        return;
      }
      case '/dashboard/api/topics': {
        answerJson(response, 200, topicsJson(host, this.rates));
        return;
      }
      case '/dashboard/api/listeners': {
        answerJson(response, 200, listenersJson(host));
        return;
      }
      case '/dashboard/api/bridges': {
        answerJson(response, 200, bridgesJson(host));
        return;
      }
      case '/dashboard/api/messages': {
        const filter = url.searchParams.get('filter') ?? '';
        const problem = liveFilterProblem(filter);
        if (problem !== null) {
          answerJson(response, 400, { error: problem });
          return;
        }
        const client: PluginClient = {
          clientId: 'dashboard',
          username: caller.login?.username ?? null,
          address: request.socket.remoteAddress ?? '',
          protocolVersion: 5,
          listenerPort: listener.port,
        };
        streamMessages(host, filter, { listener: listener.config, client }, response);
        return;
      }
      default: {
        answerText(response, 404, 'Not found.\n');
        return;
      }
    }
  }

  async #login(
    request: IncomingMessage,
    response: ServerResponse,
    listener: HttpApiListenerRef,
    access: DashboardAccess,
    secure: boolean,
  ): Promise<void> {
    if (access !== 'login') {
      answerJson(response, 400, { error: 'No logins here: dashboard_users is not set.' });
      return;
    }
    const body = await readJsonBody(request);
    const username = typeof body?.username === 'string' ? body.username : '';
    const password = typeof body?.password === 'string' ? body.password : '';
    const address = request.socket.remoteAddress ?? '';
    // The MQTT listeners' failed-login limiter (max_auth_failures) guards this form too:
    // a blocked address is refused before any password is hashed.
    const blocked = this.#host.authFailures.blockedFor(address);
    if (blocked > 0) {
      const seconds = Math.ceil(blocked / 1000);
      this.#host.log.notice(
        `Dashboard login refused for "${username}" from ${address}: too many failed logins, blocked for another ${seconds} s.`,
      );
      answerJson(
        response,
        429,
        { error: 'Too many failed logins: try again later.' },
        { 'Retry-After': String(seconds) },
      );
      return;
    }
    const authenticated =
      username !== '' &&
      (await this.#host.security.authenticate(listener.config, username, Buffer.from(password), {
        clientId: 'dashboard',
        username,
        address,
        protocolVersion: 5,
        listenerPort: listener.port,
      }));
    if (!authenticated) {
      this.#host.log.notice(
        `Dashboard login refused for "${username}" from ${address}: wrong username or password.`,
      );
      noteRefusedFrom(this.#host, address);
      answerJson(response, 401, { error: 'Wrong username or password.' });
      return;
    }
    if (!(this.#host.config.dashboardUsers ?? []).includes(username)) {
      this.#host.log.notice(
        `Dashboard login refused for "${username}" from ${address}: not in dashboard_users.`,
      );
      answerJson(response, 403, {
        error: `${username} may not use the dashboard (dashboard_users).`,
      });
      return;
    }
    const { token, login } = this.#logins.create(username);
    this.#host.log.notice(`Dashboard login by "${username}" from ${address}.`);
    answerJson(
      response,
      200,
      { username, csrfToken: login.csrfToken },
      { 'Set-Cookie': loginCookie(token, secure) },
    );
  }

  async #disconnect(
    request: IncomingMessage,
    response: ServerResponse,
    caller: Caller,
  ): Promise<void> {
    if (caller.login === null) {
      answerJson(response, 403, { error: 'The dashboard is read-only here (no dashboard_users).' });
      return;
    }
    if (!csrfMatches(caller.login, request.headers['x-csrf-token'])) {
      answerJson(response, 403, { error: 'Missing or wrong CSRF token.' });
      return;
    }
    const body = await readJsonBody(request);
    const clientId = typeof body?.clientId === 'string' ? body.clientId : null;
    const connected =
      clientId !== null &&
      [...this.#host.connections].some(
        (conn) =>
          conn.clientId === clientId &&
          conn.state === ConnectionState.Connected &&
          conn.bridge === null,
      );
    if (!connected) {
      answerJson(response, 404, { error: 'No such connected client.' });
      return;
    }
    this.#host.log.notice(`Dashboard: "${caller.login.username}" disconnected client ${clientId}.`);
    this.#host.kick({ clientId });
    answerJson(response, 200, { disconnected: clientId });
  }
}

function answerText(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Cache-Control': 'no-store',
  });
  response.end(body);
}

function answerJson(
  response: ServerResponse,
  status: number,
  body: object,
  headers: Readonly<Record<string, string>> = {},
): void {
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    ...headers,
  });
  response.end(JSON.stringify(body));
}

/** The request's JSON object body (null when too large, not JSON or not an object). */
async function readJsonBody(request: IncomingMessage): Promise<Record<string, unknown> | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return typeof parsed === 'object' && parsed !== null
      ? (parsed as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
