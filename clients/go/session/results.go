package session

import (
	"fmt"
	"time"

	sessionv1 "sessionservice/gen/session/v1"

	"google.golang.org/protobuf/types/known/structpb"
)

// JSON is a JSON object as this package passes it (a google.protobuf.Struct on the wire). Values
// are what encoding/json produces: nil, bool, float64, string, []any, map[string]any. Every
// number travels as a double, so integers above 2^53 lose precision: send large ids as strings.
type JSON = map[string]any

// TokenInfo is a token with its lifetime. Its String and GoString forms leave the token out, so
// printing a result (%v, %+v, %#v) never writes a token to a log.
type TokenInfo struct {
	Token       string
	Expiry      time.Time
	CreatedTime time.Time
}

func (t TokenInfo) String() string {
	return fmt.Sprintf("TokenInfo{Expiry: %s, CreatedTime: %s}", t.Expiry.UTC().Format(time.RFC3339), t.CreatedTime.UTC().Format(time.RFC3339))
}

// GoString is String, so that %#v leaves the token out too.
func (t TokenInfo) GoString() string {
	return t.String()
}

// Session is a verified session and its current access token (the new one when the core
// issued one). Its String and GoString forms leave the tokens out.
type Session struct {
	UserID        string
	SessionHandle string
	// AccessTokenPayload is the whole decoded payload: custom claims plus the protected ones
	// (sub, iat, exp, sessionHandle, ...).
	AccessTokenPayload JSON
	Expiry             time.Time
	FrontToken         string
	AccessToken        string
}

func (s Session) String() string {
	return fmt.Sprintf("Session{UserID: %q, SessionHandle: %q, Expiry: %s}", s.UserID, s.SessionHandle, s.Expiry.UTC().Format(time.RFC3339))
}

// GoString is String, so that %#v leaves the tokens out too.
func (s Session) GoString() string {
	return s.String()
}

// ClaimValidationError is one failed claim validator. Reason is the SDK's reason object, e.g.
// {"message": "wrong value", "expectedValue": ..., "actualValue": ...}; nil when it gave none.
type ClaimValidationError struct {
	ID     string
	Reason JSON
}

// CreatedSession is the answer to CreateSession: Status OK and a new session (failures are
// errors). The other fields are zero for any other status, which CreateSession never gives.
type CreatedSession struct {
	Status       Status
	Session      Session
	AccessToken  TokenInfo
	RefreshToken TokenInfo
	// AntiCSRFToken is set only when the service runs with anti-CSRF VIA_TOKEN.
	AntiCSRFToken *string
}

// GetSessionResult is OK, UNAUTHORISED, TRY_REFRESH_TOKEN, INVALID_CLAIMS or NO_SESSION.
// Session is set for OK and INVALID_CLAIMS; NewAccessToken whenever the core issued a new
// access token (the first use after a refresh): hand it to the client.
type GetSessionResult struct {
	Status         Status
	Message        string
	Session        *Session
	NewAccessToken *TokenInfo
	InvalidClaims  []ClaimValidationError
}

// TokenTheft names the session whose refresh token was reused. The service has revoked it,
// unless it runs with --revoke-session-on-token-theft false: then revoke it yourself.
type TokenTheft struct {
	SessionHandle string
	UserID        string
}

// RefreshResult is OK (Session and the new tokens set), UNAUTHORISED or TOKEN_THEFT_DETECTED
// (TokenTheft set).
type RefreshResult struct {
	Status        Status
	Message       string
	Session       *Session
	AccessToken   *TokenInfo
	RefreshToken  *TokenInfo
	AntiCSRFToken *string
	TokenTheft    *TokenTheft
}

// SessionHandlesResult is the answer to RevokeAllSessionsForUser, RevokeMultipleSessions and
// GetAllSessionHandlesForUser: Status OK, with the handles revoked or listed.
type SessionHandlesResult struct {
	Status         Status
	SessionHandles []string
}

// StatusResult is OK or SESSION_DOES_NOT_EXIST (the SDK's true and false).
type StatusResult struct {
	Status  Status
	Message string
}

// SessionInformation is what the core stores about a session.
type SessionInformation struct {
	SessionHandle                    string
	UserID                           string
	SessionDataInDatabase            JSON
	Expiry                           time.Time
	CustomClaimsInAccessTokenPayload JSON
	TimeCreated                      time.Time
}

// SessionInformationResult is OK with Info, or SESSION_DOES_NOT_EXIST.
type SessionInformationResult struct {
	Status  Status
	Message string
	Info    *SessionInformation
}

// RegenerateResult is OK, UNAUTHORISED or TRY_REFRESH_TOKEN. For OK, AccessToken is nil when
// the given token had already expired (the payload is stored anyway).
type RegenerateResult struct {
	Status        Status
	Message       string
	SessionHandle string
	UserID        string
	UserDataInJWT JSON
	AccessToken   *TokenInfo
}

// ClaimValueResult is OK or SESSION_DOES_NOT_EXIST. For OK, Present says whether the session
// has the claim and Value is its value.
type ClaimValueResult struct {
	Status  Status
	Message string
	Present bool
	Value   any
}

// ClaimsValidationResult is OK, INVALID_CLAIMS (InvalidClaims set) or SESSION_DOES_NOT_EXIST.
type ClaimsValidationResult struct {
	Status        Status
	Message       string
	InvalidClaims []ClaimValidationError
}

// JSONWebKey is a public RSA signing key (n and e base64url without padding).
type JSONWebKey struct {
	Kty, Kid, N, E, Alg, Use string
}

// JWKSResult is the answer to GetJWKS: Status OK, with the public keys (dynamic keys newest
// first, then static keys).
type JWKSResult struct {
	Status Status
	Keys   []JSONWebKey
}

// CreateJWTResult is OK with JWT, or UNSUPPORTED_ALGORITHM.
type CreateJWTResult struct {
	Status  Status
	Message string
	JWT     string
}

// OpenIDConfiguration is the OpenID discovery document, with Status OK.
type OpenIDConfiguration struct {
	Status  Status
	Issuer  string
	JWKSURI string
}

func millis(ms int64) time.Time {
	return time.UnixMilli(ms)
}

// valueOrZero is *p, or the zero value for a message the response left unset.
func valueOrZero[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

func tokenInfo(m *sessionv1.TokenInfo) *TokenInfo {
	if m == nil {
		return nil
	}
	return &TokenInfo{Token: m.Token, Expiry: millis(m.Expiry), CreatedTime: millis(m.CreatedTime)}
}

func session(m *sessionv1.Session) *Session {
	if m == nil {
		return nil
	}
	return &Session{
		UserID:             m.UserId,
		SessionHandle:      m.SessionHandle,
		AccessTokenPayload: m.AccessTokenPayload.AsMap(),
		Expiry:             millis(m.Expiry),
		FrontToken:         m.FrontToken,
		AccessToken:        m.AccessToken,
	}
}

func claimErrors(ms []*sessionv1.ClaimValidationError) []ClaimValidationError {
	errs := make([]ClaimValidationError, 0, len(ms))
	for _, m := range ms {
		e := ClaimValidationError{ID: m.Id}
		if m.Reason != nil {
			e.Reason = m.Reason.AsMap()
		}
		errs = append(errs, e)
	}
	return errs
}

// toStruct converts a JSON object for the wire; nil stays unset (the service reads {}).
func toStruct(what string, m JSON) (*structpb.Struct, error) {
	if m == nil {
		return nil, nil
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("session: %s is not a JSON object: %w", what, err)
	}
	return s, nil
}

func toValue(what string, v any) (*structpb.Value, error) {
	value, err := structpb.NewValue(v)
	if err != nil {
		return nil, fmt.Errorf("session: %s is not a JSON value: %w", what, err)
	}
	return value, nil
}
