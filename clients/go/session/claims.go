package session

import (
	"fmt"

	sessionv1 "sessionservice/gen/session/v1"

	"google.golang.org/protobuf/types/known/structpb"
)

type check int

const (
	checkHasValue check = iota + 1
	checkIncludes
	checkExcludes
	checkIncludesAll
	checkExcludesAll
)

// ClaimValidator is a declarative claim validator, the SDK's PrimitiveClaim and
// PrimitiveArrayClaim validators. A claim is stored in the payload as {"v": value, "t": ms}.
// Build one with HasValue, Includes, Excludes, IncludesAll or ExcludesAll.
type ClaimValidator struct {
	check         check
	key           string
	values        []any
	id            string
	maxAgeSeconds int64
}

// HasValue: the claim's value equals value (the SDK's has_value; is_true is HasValue(key, true)).
func HasValue(key string, value any) ClaimValidator {
	return ClaimValidator{check: checkHasValue, key: key, values: []any{value}}
}

// Includes: the claim's list contains value.
func Includes(key string, value any) ClaimValidator {
	return ClaimValidator{check: checkIncludes, key: key, values: []any{value}}
}

// Excludes: the claim's list does not contain value.
func Excludes(key string, value any) ClaimValidator {
	return ClaimValidator{check: checkExcludes, key: key, values: []any{value}}
}

// IncludesAll: the claim's list contains every one of values.
func IncludesAll(key string, values ...any) ClaimValidator {
	return ClaimValidator{check: checkIncludesAll, key: key, values: values}
}

// ExcludesAll: the claim's list contains none of values.
func ExcludesAll(key string, values ...any) ClaimValidator {
	return ClaimValidator{check: checkExcludesAll, key: key, values: values}
}

// WithMaxAge rejects a value set longer ago than seconds ("expired"); 0 accepts any age.
func (v ClaimValidator) WithMaxAge(seconds int64) ClaimValidator {
	v.maxAgeSeconds = seconds
	return v
}

// WithID sets the id reported in ClaimValidationError (default: the claim key).
func (v ClaimValidator) WithID(id string) ClaimValidator {
	v.id = id
	return v
}

func (v ClaimValidator) proto() (*sessionv1.ClaimValidator, error) {
	values := make([]*structpb.Value, 0, len(v.values))
	for _, item := range v.values {
		value, err := toValue(fmt.Sprintf("the value of claim validator %q", v.key), item)
		if err != nil {
			return nil, err
		}
		values = append(values, value)
	}
	var maxAge *int64
	if v.maxAgeSeconds != 0 {
		maxAge = &v.maxAgeSeconds
	}
	m := &sessionv1.ClaimValidator{}
	if v.id != "" {
		m.Id = &v.id
	}
	one := func() *sessionv1.ClaimValidator_ValueCheck {
		return &sessionv1.ClaimValidator_ValueCheck{Key: v.key, Value: values[0], MaxAgeSeconds: maxAge}
	}
	many := func() *sessionv1.ClaimValidator_ValuesCheck {
		return &sessionv1.ClaimValidator_ValuesCheck{Key: v.key, Values: values, MaxAgeSeconds: maxAge}
	}
	switch v.check {
	case checkHasValue:
		m.Check = &sessionv1.ClaimValidator_HasValue{HasValue: one()}
	case checkIncludes:
		m.Check = &sessionv1.ClaimValidator_Includes{Includes: one()}
	case checkExcludes:
		m.Check = &sessionv1.ClaimValidator_Excludes{Excludes: one()}
	case checkIncludesAll:
		m.Check = &sessionv1.ClaimValidator_IncludesAll{IncludesAll: many()}
	case checkExcludesAll:
		m.Check = &sessionv1.ClaimValidator_ExcludesAll{ExcludesAll: many()}
	default:
		return nil, fmt.Errorf("session: a ClaimValidator must be built with HasValue, Includes, Excludes, IncludesAll or ExcludesAll")
	}
	return m, nil
}

func validators(vs []ClaimValidator) ([]*sessionv1.ClaimValidator, error) {
	ms := make([]*sessionv1.ClaimValidator, 0, len(vs))
	for _, v := range vs {
		m, err := v.proto()
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}
