/** Cookie parsing and Set-Cookie serialisation (RFC 6265), with the SDK's URL-encoding of values. */

export type SameSite = "lax" | "strict" | "none";

export interface CookieToSet {
  readonly name: string;
  /** Unencoded; URL-encoded when serialised, as the SDK does (`quote` / `unquote`). */
  readonly value: string;
  /** Epoch ms; 0 clears the cookie. */
  readonly expires: number;
  readonly path: string;
  readonly domain?: string;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: SameSite;
}

/**
 * The cookies of a `Cookie` request header. When a name repeats, the first wins: browsers
 * send the cookie with the longest (most specific) path first.
 */
export function parseCookieHeader(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!name || cookies.has(name)) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    cookies.set(name, safeDecode(value));
  }
  return cookies;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // not percent-encoded by us; use it as sent
  }
}

const SAME_SITE: Record<SameSite, string> = { lax: "Lax", strict: "Strict", none: "None" };

export function serializeSetCookie(cookie: CookieToSet): string {
  const parts = [
    `${cookie.name}=${encodeURIComponent(cookie.value)}`,
    `Path=${cookie.path}`,
    `Expires=${new Date(cookie.expires).toUTCString()}`,
  ];
  if (cookie.domain) parts.push(`Domain=${cookie.domain}`);
  if (cookie.httpOnly) parts.push("HttpOnly");
  if (cookie.secure) parts.push("Secure");
  parts.push(`SameSite=${SAME_SITE[cookie.sameSite]}`);
  return parts.join("; ");
}
