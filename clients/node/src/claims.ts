/**
 * Builders for declarative claim validators (the gRPC form of the SDK's PrimitiveClaim and
 * PrimitiveArrayClaim validators). A claim is stored in the payload as {"v": value, "t": ms}.
 */
import type { ClaimValidator } from "./gen/session/v1/session_service";
import { toJsonValue, type JsonValue } from "./json";

export type { ClaimValidator };

export interface ClaimCheckOptions {
  /** Reject values set longer ago than this many seconds (reason "expired"). */
  readonly maxAgeSeconds?: number;
  /** The id reported in a failure; defaults to the claim key. */
  readonly id?: string;
}

function valueCheck(key: string, value: JsonValue, options: ClaimCheckOptions) {
  return { key, value: toJsonValue(value), maxAgeSeconds: options.maxAgeSeconds };
}

function valuesCheck(key: string, values: readonly JsonValue[], options: ClaimCheckOptions) {
  return { key, values: values.map((v, i) => toJsonValue(v, `$[${i}]`)), maxAgeSeconds: options.maxAgeSeconds };
}

/** The claim's value equals `value` (SDK `has_value`). */
export function hasValue(key: string, value: JsonValue, options: ClaimCheckOptions = {}): ClaimValidator {
  return { id: options.id, check: { $case: "hasValue", value: valueCheck(key, value, options) } };
}

/** SDK BooleanClaim `is_true`. */
export function isTrue(key: string, options: ClaimCheckOptions = {}): ClaimValidator {
  return hasValue(key, true, options);
}

/** SDK BooleanClaim `is_false`. */
export function isFalse(key: string, options: ClaimCheckOptions = {}): ClaimValidator {
  return hasValue(key, false, options);
}

/** The claim's list contains `value` (each of its items when `value` is an array, as the SDK's `includes`). */
export function includes(key: string, value: JsonValue, options: ClaimCheckOptions = {}): ClaimValidator {
  return { id: options.id, check: { $case: "includes", value: valueCheck(key, value, options) } };
}

/** The claim's list does not contain `value` (none of its items when `value` is an array). */
export function excludes(key: string, value: JsonValue, options: ClaimCheckOptions = {}): ClaimValidator {
  return { id: options.id, check: { $case: "excludes", value: valueCheck(key, value, options) } };
}

/** The claim's list contains every one of `values`. */
export function includesAll(key: string, values: readonly JsonValue[], options: ClaimCheckOptions = {}): ClaimValidator {
  return { id: options.id, check: { $case: "includesAll", value: valuesCheck(key, values, options) } };
}

/** The claim's list contains none of `values`. */
export function excludesAll(key: string, values: readonly JsonValue[], options: ClaimCheckOptions = {}): ClaimValidator {
  return { id: options.id, check: { $case: "excludesAll", value: valuesCheck(key, values, options) } };
}
