/**
 * The SDK's access-token parse and structure check (`recipe/session/jwt.py`,
 * `access_token.py#validate_access_token_structure`), without the signature: the request layer
 * uses it to ignore tokens that cannot be access tokens (for example an unrelated bearer token)
 * before choosing between the header and the cookie. The service verifies signatures.
 */

/** Standard (padded, non-URL-safe) base64 of {"alg":"RS256","typ":"JWT","version":"2"}. */
const V2_HEADER = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsInZlcnNpb24iOiIyIn0=";

export interface ParsedAccessToken {
  readonly version: number;
  readonly kid?: string;
  readonly payload: Record<string, unknown>;
}

export function parseAccessToken(token: string): ParsedAccessToken | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const [rawHeader, rawPayload] = parts as [string, string, string];
  let version: number;
  let kid: string | undefined;
  if (rawHeader === V2_HEADER) {
    version = 2;
  } else {
    const header = decodeJsonObject(rawHeader);
    if (!header) return undefined;
    const v = header["version"];
    if (typeof v !== "string" || !/^\s*[+-]?\d+\s*$/.test(v)) return undefined;
    version = Number.parseInt(v, 10);
    if (version < 3 || header["typ"] !== "JWT" || header["kid"] === undefined || header["kid"] === null) return undefined;
    kid = String(header["kid"]);
  }
  const payload = decodeJsonObject(rawPayload);
  if (!payload || !hasRequiredClaims(payload, version)) return undefined;
  return kid === undefined ? { version, payload } : { version, kid, payload };
}

function hasRequiredClaims(payload: Record<string, unknown>, version: number): boolean {
  const isString = (key: string) => typeof payload[key] === "string";
  const isInt = (key: string) => Number.isInteger(payload[key]);
  if (version >= 3) {
    return isString("sub") && isInt("exp") && isInt("iat") && isString("sessionHandle") && isString("refreshTokenHash1");
  }
  return (
    isString("sessionHandle") &&
    payload["userData"] !== undefined &&
    payload["userData"] !== null &&
    isString("refreshTokenHash1") &&
    isInt("expiryTime") &&
    isInt("timeCreated")
  );
}

function decodeJsonObject(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
