/**
 * The dashboard's logins: a random token in an HttpOnly, SameSite=Strict cookie names a
 * login (user, CSRF token, expiry); actions need the CSRF token too, in a header.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const COOKIE_NAME = 'mosquitto_dashboard';
/** A login lasts eight hours. */
export const LOGIN_SECONDS = 8 * 3600;
/** Logins kept at most; the oldest goes first. */
const MAX_LOGINS = 1000;

export interface DashboardLogin {
  readonly username: string;
  readonly csrfToken: string;
  readonly expiresAt: number;
}

export class LoginSessions {
  readonly #logins = new Map<string, DashboardLogin>();

  /** A new login for `username`: its cookie token and the login. */
  create(username: string, now = Date.now()): { token: string; login: DashboardLogin } {
    const token = randomBytes(32).toString('base64url');
    const login = {
      username,
      csrfToken: randomBytes(24).toString('base64url'),
      expiresAt: now + LOGIN_SECONDS * 1000,
    };
    this.#logins.set(token, login);
    if (this.#logins.size > MAX_LOGINS) {
      const oldest = this.#logins.keys().next().value;
      if (oldest !== undefined) this.#logins.delete(oldest);
    }
    return { token, login };
  }

  /** The login of this request's cookie, if any and not expired. */
  find(
    cookieHeader: string | undefined,
    now = Date.now(),
  ): { token: string; login: DashboardLogin } | null {
    const token = cookieValue(cookieHeader, COOKIE_NAME);
    if (token === null) return null;
    const login = this.#logins.get(token);
    if (login === undefined) return null;
    if (login.expiresAt <= now) {
      this.#logins.delete(token);
      return null;
    }
    return { token, login };
  }

  delete(token: string): void {
    this.#logins.delete(token);
  }
}

export function cookieValue(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** `Set-Cookie` for a login (Secure on HTTPS listeners); an empty token clears it. */
export function loginCookie(token: string, secure: boolean): string {
  const maxAge = token === '' ? 0 : LOGIN_SECONDS;
  return `${COOKIE_NAME}=${token}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** Constant-time comparison of the CSRF header with the login's token. */
export function csrfMatches(login: DashboardLogin, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  const given = Buffer.from(header);
  const expected = Buffer.from(login.csrfToken);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
