/** JSON values as they travel in `google.protobuf.Struct` / `Value` fields. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/**
 * Checks that `value` is plain JSON before it is sent. ts-proto would otherwise encode an
 * `undefined` array element as an empty `Value` and throw an unhelpful error on a function.
 * Object properties whose value is `undefined` are dropped, as `JSON.stringify` does.
 * Struct numbers are doubles: integers above 2^53 lose precision (send them as strings).
 */
export function toJsonValue(value: unknown, path = "$"): JsonValue {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`${path}: ${value} is not a JSON number`);
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((item, index) => {
      if (item === undefined) throw new TypeError(`${path}[${index}]: undefined is not JSON`);
      return toJsonValue(item, `${path}[${index}]`);
    });
  }
  if (typeof value === "object" && isPlainObject(value)) {
    return toJsonObject(value, path);
  }
  throw new TypeError(`${path}: ${describe(value)} is not JSON`);
}

export function toJsonObject(value: unknown, path = "$"): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value) || !isPlainObject(value)) {
    throw new TypeError(`${path}: expected a JSON object, got ${describe(value)}`);
  }
  const result: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    result[key] = toJsonValue(item, `${path}.${key}`);
  }
  return result;
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return `an instance of ${value.constructor?.name ?? "an unknown class"}`;
  return `a ${typeof value}`;
}
