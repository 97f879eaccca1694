import { ACCESS_CONTROL_EXPOSE_HEADERS } from "./constants";
import { serializeSetCookie, type CookieToSet } from "./cookies";

/**
 * What a session operation wants done to the HTTP response: headers and cookies, collected
 * framework-neutrally and applied by an adapter (see ./node). Later writes win, as with the
 * SDK's response mutators: clearing after setting leaves the cleared value.
 */
export class ResponseChanges {
  private readonly headerValues = new Map<string, string>();
  private readonly cookieValues: CookieToSet[] = [];

  /** Sets a header (lowercase name). Access-Control-Expose-Headers accumulates instead. */
  setHeader(name: string, value: string): void {
    const key = name.toLowerCase();
    if (key === ACCESS_CONTROL_EXPOSE_HEADERS) {
      this.headerValues.set(key, mergeList(this.headerValues.get(key), value));
    } else {
      this.headerValues.set(key, value);
    }
  }

  removeHeader(name: string): void {
    this.headerValues.delete(name.toLowerCase());
  }

  /** Replaces an earlier cookie with the same name, path and domain. */
  setCookie(cookie: CookieToSet): void {
    const index = this.cookieValues.findIndex(
      (c) => c.name === cookie.name && c.path === cookie.path && c.domain === cookie.domain,
    );
    if (index >= 0) this.cookieValues.splice(index, 1);
    this.cookieValues.push(cookie);
  }

  get headers(): ReadonlyMap<string, string> {
    return this.headerValues;
  }

  get cookies(): readonly CookieToSet[] {
    return this.cookieValues;
  }

  setCookieHeaders(): string[] {
    return this.cookieValues.map(serializeSetCookie);
  }
}

/** Appends the items of `addition` (comma-separated) to `existing`, skipping ones already present. */
export function mergeList(existing: string | undefined, addition: string): string {
  const items = (existing ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  for (const item of addition.split(",").map((s) => s.trim()).filter(Boolean)) {
    if (!items.some((i) => i.toLowerCase() === item.toLowerCase())) items.push(item);
  }
  return items.join(", ");
}
