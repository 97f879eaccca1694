package session

import sessionv1 "sessionservice/gen/session/v1"

// Status is the outcome of a session operation (session.v1.SessionStatus). Branch on it:
// an expected outcome such as "refresh the token" is a Status with a nil error, not an error.
type Status int32

// The statuses the service sends. StatusUnknown stands for a value this package does not know
// (proto3 enums are open, and the service may add values): treat it as a failure.
const (
	StatusUnknown              Status = 0
	StatusOK                          = Status(sessionv1.SessionStatus_SESSION_STATUS_OK)
	StatusUnauthorised                = Status(sessionv1.SessionStatus_SESSION_STATUS_UNAUTHORISED)
	StatusTryRefreshToken             = Status(sessionv1.SessionStatus_SESSION_STATUS_TRY_REFRESH_TOKEN)
	StatusTokenTheftDetected          = Status(sessionv1.SessionStatus_SESSION_STATUS_TOKEN_THEFT_DETECTED)
	StatusInvalidClaims               = Status(sessionv1.SessionStatus_SESSION_STATUS_INVALID_CLAIMS)
	StatusSessionDoesNotExist         = Status(sessionv1.SessionStatus_SESSION_STATUS_SESSION_DOES_NOT_EXIST)
	StatusUnsupportedAlgorithm        = Status(sessionv1.SessionStatus_SESSION_STATUS_UNSUPPORTED_ALGORITHM)
	StatusNoSession                   = Status(sessionv1.SessionStatus_SESSION_STATUS_NO_SESSION)
)

var statusNames = map[Status]string{
	StatusUnknown:              "UNKNOWN",
	StatusOK:                   "OK",
	StatusUnauthorised:         "UNAUTHORISED",
	StatusTryRefreshToken:      "TRY_REFRESH_TOKEN",
	StatusTokenTheftDetected:   "TOKEN_THEFT_DETECTED",
	StatusInvalidClaims:        "INVALID_CLAIMS",
	StatusSessionDoesNotExist:  "SESSION_DOES_NOT_EXIST",
	StatusUnsupportedAlgorithm: "UNSUPPORTED_ALGORITHM",
	StatusNoSession:            "NO_SESSION",
}

// String is the name without the SESSION_STATUS_ prefix, e.g. "TRY_REFRESH_TOKEN".
func (s Status) String() string {
	return statusNames[s]
}

// statusOf maps the wire value; SESSION_STATUS_UNSPECIFIED (never sent) and values this package
// does not know become StatusUnknown.
func statusOf(value sessionv1.SessionStatus) Status {
	if _, known := statusNames[Status(value)]; known {
		return Status(value)
	}
	return StatusUnknown
}

// singleOutcomeStatusOf maps the status of a response whose RPC has no outcome but OK
// (CreateSession, the handle lists, GetJWKS, the discovery document): a service older than that
// status field leaves it unset (SESSION_STATUS_UNSPECIFIED), which means OK too.
func singleOutcomeStatusOf(value sessionv1.SessionStatus) Status {
	if value == sessionv1.SessionStatus_SESSION_STATUS_UNSPECIFIED {
		return StatusOK
	}
	return statusOf(value)
}
