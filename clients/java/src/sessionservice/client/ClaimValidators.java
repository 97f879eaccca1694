package sessionservice.client;

import java.util.List;
import sessionservice.session.v1.ClaimValidator;
import sessionservice.session.v1.ClaimValidator.ValueCheck;
import sessionservice.session.v1.ClaimValidator.ValuesCheck;

/**
 * Builders of {@link ClaimValidator}, the SDK's PrimitiveClaim and PrimitiveArrayClaim
 * validators. A claim is stored in the payload as {"v": value, "t": ms}. Set an id with {@code
 * .toBuilder().setId(...)} and an age limit with {@link #maxAge}.
 */
public final class ClaimValidators {
  private ClaimValidators() {}

  /** The claim's value equals {@code value} (the SDK's has_value; is_true is hasValue(key, true)). */
  public static ClaimValidator hasValue(String key, Object value) {
    return ClaimValidator.newBuilder().setHasValue(one(key, value)).build();
  }

  /** The claim's list contains {@code value}. */
  public static ClaimValidator includes(String key, Object value) {
    return ClaimValidator.newBuilder().setIncludes(one(key, value)).build();
  }

  /** The claim's list does not contain {@code value}. */
  public static ClaimValidator excludes(String key, Object value) {
    return ClaimValidator.newBuilder().setExcludes(one(key, value)).build();
  }

  /** The claim's list contains every one of {@code values}. */
  public static ClaimValidator includesAll(String key, List<?> values) {
    return ClaimValidator.newBuilder().setIncludesAll(many(key, values)).build();
  }

  /** The claim's list contains none of {@code values}. */
  public static ClaimValidator excludesAll(String key, List<?> values) {
    return ClaimValidator.newBuilder().setExcludesAll(many(key, values)).build();
  }

  /** {@code validator}, rejecting values set longer ago than {@code seconds} ("expired"). */
  public static ClaimValidator maxAge(ClaimValidator validator, long seconds) {
    ClaimValidator.Builder builder = validator.toBuilder();
    switch (validator.getCheckCase()) {
      case HAS_VALUE -> builder.getHasValueBuilder().setMaxAgeSeconds(seconds);
      case INCLUDES -> builder.getIncludesBuilder().setMaxAgeSeconds(seconds);
      case EXCLUDES -> builder.getExcludesBuilder().setMaxAgeSeconds(seconds);
      case INCLUDES_ALL -> builder.getIncludesAllBuilder().setMaxAgeSeconds(seconds);
      case EXCLUDES_ALL -> builder.getExcludesAllBuilder().setMaxAgeSeconds(seconds);
      case CHECK_NOT_SET -> throw new IllegalArgumentException("the validator has no check");
    }
    return builder.build();
  }

  private static ValueCheck one(String key, Object value) {
    return ValueCheck.newBuilder().setKey(key).setValue(Json.toValue(value)).build();
  }

  private static ValuesCheck many(String key, List<?> values) {
    ValuesCheck.Builder check = ValuesCheck.newBuilder().setKey(key);
    values.forEach(value -> check.addValues(Json.toValue(value)));
    return check.build();
  }
}
