package sessionservice.client;

import com.google.protobuf.ListValue;
import com.google.protobuf.NullValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON values as plain Java objects, to and from {@code google.protobuf.Struct} and {@code Value}:
 * {@code null}, {@link Boolean}, {@link Number} (read back as {@link Double}: every JSON number
 * travels as a double, so integers above 2^53 lose precision), {@link String}, {@link List} and
 * {@link Map} with string keys.
 */
public final class Json {
  private Json() {}

  /** A JSON object for the wire; {@code null} stays unset (the service reads {}). */
  static Struct toStruct(Map<String, ?> object) {
    if (object == null) {
      return null;
    }
    Struct.Builder struct = Struct.newBuilder();
    object.forEach((key, item) -> struct.putFields(key, toValue(item)));
    return struct.build();
  }

  /** A JSON value for the wire; throws {@link IllegalArgumentException} for anything else. */
  static Value toValue(Object item) {
    Value.Builder value = Value.newBuilder();
    if (item == null) {
      value.setNullValue(NullValue.NULL_VALUE);
    } else if (item instanceof Boolean b) {
      value.setBoolValue(b);
    } else if (item instanceof Number n) {
      value.setNumberValue(n.doubleValue());
    } else if (item instanceof String s) {
      value.setStringValue(s);
    } else if (item instanceof Map<?, ?> map) {
      Struct.Builder struct = Struct.newBuilder();
      map.forEach((key, nested) -> {
        if (!(key instanceof String name)) {
          throw new IllegalArgumentException("a JSON object key must be a String, not " + key.getClass().getName());
        }
        struct.putFields(name, toValue(nested));
      });
      value.setStructValue(struct);
    } else if (item instanceof List<?> list) {
      ListValue.Builder values = ListValue.newBuilder();
      list.forEach(nested -> values.addValues(toValue(nested)));
      value.setListValue(values);
    } else {
      throw new IllegalArgumentException("not a JSON value: " + item.getClass().getName());
    }
    return value.build();
  }

  /** A Struct as an unmodifiable map (an unset Struct reads as {}). */
  static Map<String, Object> toMap(Struct struct) {
    Map<String, Object> map = new LinkedHashMap<>();
    struct.getFieldsMap().forEach((key, item) -> map.put(key, toJava(item)));
    return Collections.unmodifiableMap(map);
  }

  static Object toJava(Value value) {
    return switch (value.getKindCase()) {
      case BOOL_VALUE -> value.getBoolValue();
      case NUMBER_VALUE -> value.getNumberValue();
      case STRING_VALUE -> value.getStringValue();
      case STRUCT_VALUE -> toMap(value.getStructValue());
      case LIST_VALUE -> {
        List<Object> list = new ArrayList<>();
        value.getListValue().getValuesList().forEach(item -> list.add(toJava(item)));
        yield Collections.unmodifiableList(list);
      }
      case NULL_VALUE, KIND_NOT_SET -> null;
    };
  }
}
