package session

import (
	"strings"
	"testing"

	sessionv1 "sessionservice/gen/session/v1"
)

// Every status in the contract has a constant here: a value added to protos/ without one would
// reach callers as StatusUnknown.
func TestEveryContractStatusIsKnown(t *testing.T) {
	for number, name := range sessionv1.SessionStatus_name {
		got := statusOf(sessionv1.SessionStatus(number))
		if number == int32(sessionv1.SessionStatus_SESSION_STATUS_UNSPECIFIED) {
			if got != StatusUnknown {
				t.Errorf("UNSPECIFIED maps to %s, want UNKNOWN", got)
			}
			continue
		}
		if want := strings.TrimPrefix(name, "SESSION_STATUS_"); got.String() != want || int32(got) != number {
			t.Errorf("%s maps to %s (%d)", name, got, got)
		}
	}
	if got := statusOf(sessionv1.SessionStatus(1000)); got != StatusUnknown || got.String() != "UNKNOWN" {
		t.Errorf("an unknown value maps to %s", got)
	}
}

// CreateSession, the handle lists, GetJWKS and the discovery document have no outcome but OK: a
// service older than their status field leaves it unset, which reads as OK; any other value is
// passed on as it is, for the caller to treat as the failure it is.
func TestSingleOutcomeStatus(t *testing.T) {
	for value, want := range map[sessionv1.SessionStatus]Status{
		sessionv1.SessionStatus_SESSION_STATUS_UNSPECIFIED:  StatusOK,
		sessionv1.SessionStatus_SESSION_STATUS_OK:           StatusOK,
		sessionv1.SessionStatus_SESSION_STATUS_UNAUTHORISED: StatusUnauthorised,
		sessionv1.SessionStatus(1000):                       StatusUnknown,
	} {
		if got := singleOutcomeStatusOf(value); got != want {
			t.Errorf("%v maps to %s, want %s", value, got, want)
		}
	}
}
