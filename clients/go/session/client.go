// Package session is a typed client for session.v1.SessionService over the code generated from
// protos/ (package sessionv1).
//
// Outcomes are data, failures are errors: every SessionService call returns a result with a
// Status (OK, UNAUTHORISED, TRY_REFRESH_TOKEN, ...) and a nil error; CreateSession, the handle
// lists, GetJWKS and the discovery document have no outcome but OK. The error is non-nil only
// when the call could not be answered; it is the gRPC status error unchanged, so
// status.Code(err) gives INVALID_ARGUMENT, UNAVAILABLE, PERMISSION_DENIED and so on. Errors this
// package returns before calling (a value that is not JSON) are plain errors (code Unknown).
package session

import (
	"context"
	"time"

	sessionv1 "sessionservice/gen/session/v1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// DefaultTimeout bounds a call whose context has no deadline (see WithTimeout).
const DefaultTimeout = 10 * time.Second

// APIKeyMetadata is the metadata key the service reads caller API keys from.
const APIKeyMetadata = "x-api-key"

// Client calls one service over a connection the caller owns (and closes). It is safe for
// concurrent use.
type Client struct {
	rpc     sessionv1.SessionServiceClient
	conn    grpc.ClientConnInterface
	apiKey  string
	timeout time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sends key as x-api-key metadata on every SessionService call (health calls are
// open and get no key).
func WithAPIKey(key string) Option {
	return func(c *Client) { c.apiKey = key }
}

// WithTimeout sets the deadline given to calls whose context has none; 0 leaves them unbounded.
// The service passes what is left of the deadline on to the session core.
func WithTimeout(timeout time.Duration) Option {
	return func(c *Client) { c.timeout = timeout }
}

// NewClient returns a client over conn, e.g. a *grpc.ClientConn from grpc.Dial.
func NewClient(conn grpc.ClientConnInterface, opts ...Option) *Client {
	c := &Client{rpc: sessionv1.NewSessionServiceClient(conn), conn: conn, timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

func (c *Client) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); !ok && c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return ctx, func() {}
}

type userContextKey struct{}

// WithUserContext returns a context whose calls send userContext as the SDK's user_context,
// which the service hands to its override hooks and to its claims' fetch_value.
func WithUserContext(ctx context.Context, userContext JSON) context.Context {
	return context.WithValue(ctx, userContextKey{}, userContext)
}

// invoke runs one SessionService RPC with the client's deadline, API key and the context's
// user_context (every request of the contract has that field).
func invoke[Req proto.Message, Resp any](ctx context.Context, c *Client, rpc func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	if userContext, ok := ctx.Value(userContextKey{}).(JSON); ok {
		s, err := toStruct("the user context", userContext)
		if err != nil {
			var none Resp
			return none, err
		}
		if field := req.ProtoReflect().Descriptor().Fields().ByName("user_context"); field != nil && s != nil {
			req.ProtoReflect().Set(field, protoreflect.ValueOfMessage(s.ProtoReflect()))
		}
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	if c.apiKey != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, APIKeyMetadata, c.apiKey)
	}
	return rpc(ctx, req)
}

// statusResponse is a response whose only outcome is a status (the SDK's true or false).
type statusResponse interface {
	GetStatus() sessionv1.SessionStatus
	GetMessage() string
}

// invokeForStatus runs an RPC whose answer is a StatusResult.
func invokeForStatus[Req proto.Message, Resp statusResponse](ctx context.Context, c *Client, rpc func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (*StatusResult, error) {
	resp, err := invoke(ctx, c, rpc, req)
	if err != nil {
		return nil, err
	}
	return &StatusResult{Status: statusOf(resp.GetStatus()), Message: resp.GetMessage()}, nil
}

// handlesResponse is the response of a handle list (revoked or live sessions).
type handlesResponse interface {
	GetStatus() sessionv1.SessionStatus
	GetSessionHandles() []string
}

// invokeForHandles runs an RPC whose answer is a SessionHandlesResult.
func invokeForHandles[Req proto.Message, Resp handlesResponse](ctx context.Context, c *Client, rpc func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (*SessionHandlesResult, error) {
	resp, err := invoke(ctx, c, rpc, req)
	if err != nil {
		return nil, err
	}
	return &SessionHandlesResult{Status: singleOutcomeStatusOf(resp.GetStatus()), SessionHandles: resp.GetSessionHandles()}, nil
}

// CreateSessionOptions are CreateSession's optional arguments.
type CreateSessionOptions struct {
	// AccessTokenPayload holds custom claims for the access token (no protected claim such as
	// sub or exp). Nil means {}.
	AccessTokenPayload JSON
	// SessionDataInDatabase is kept in the database only, never in tokens. Nil means {}.
	SessionDataInDatabase JSON
	// DisableAntiCSRF issues no anti-CSRF token even under anti-CSRF VIA_TOKEN (tokens in headers).
	DisableAntiCSRF bool
}

// CreateSession creates a session for userID (SDK create_new_session_without_request_response).
// opts may be nil.
func (c *Client) CreateSession(ctx context.Context, userID string, opts *CreateSessionOptions) (*CreatedSession, error) {
	if opts == nil {
		opts = &CreateSessionOptions{}
	}
	payload, err := toStruct("AccessTokenPayload", opts.AccessTokenPayload)
	if err != nil {
		return nil, err
	}
	data, err := toStruct("SessionDataInDatabase", opts.SessionDataInDatabase)
	if err != nil {
		return nil, err
	}
	resp, err := invoke(ctx, c, c.rpc.CreateSession, &sessionv1.CreateSessionRequest{
		UserId: userID, AccessTokenPayload: payload, SessionDataInDatabase: data, DisableAntiCsrf: opts.DisableAntiCSRF,
	})
	if err != nil {
		return nil, err
	}
	return &CreatedSession{
		Status:        singleOutcomeStatusOf(resp.Status),
		Session:       valueOrZero(session(resp.Session)),
		AccessToken:   valueOrZero(tokenInfo(resp.AccessToken)),
		RefreshToken:  valueOrZero(tokenInfo(resp.RefreshToken)),
		AntiCSRFToken: resp.AntiCsrfToken,
	}, nil
}

// GetSessionOptions are GetSession's optional arguments; the zero value is the SDK's default.
type GetSessionOptions struct {
	// AntiCSRFToken is the token the client sent; checked under anti-CSRF VIA_TOKEN.
	AntiCSRFToken string
	// SkipAntiCSRFCheck does not check the anti-CSRF token (e.g. for GET requests).
	SkipAntiCSRFCheck bool
	// SessionOptional turns a missing or unparsable token into NO_SESSION instead of
	// UNAUTHORISED (the SDK's session_required=False).
	SessionOptional bool
	// CheckDatabase asks the core whether the session still exists (catches revocation before
	// the access token expires, at the cost of a core call).
	CheckDatabase bool
	// ClaimValidators run in addition to the server-wide ones (instead of them with
	// OverrideGlobalClaimValidators).
	ClaimValidators               []ClaimValidator
	OverrideGlobalClaimValidators bool
}

// GetSession verifies an access token and validates claims (SDK
// get_session_without_request_response). opts may be nil.
func (c *Client) GetSession(ctx context.Context, accessToken string, opts *GetSessionOptions) (*GetSessionResult, error) {
	if opts == nil {
		opts = &GetSessionOptions{}
	}
	claimValidators, err := validators(opts.ClaimValidators)
	if err != nil {
		return nil, err
	}
	req := &sessionv1.GetSessionRequest{
		AccessToken:                   accessToken,
		CheckDatabase:                 opts.CheckDatabase,
		ClaimValidators:               claimValidators,
		OverrideGlobalClaimValidators: opts.OverrideGlobalClaimValidators,
	}
	if opts.AntiCSRFToken != "" {
		req.AntiCsrfToken = &opts.AntiCSRFToken
	}
	if opts.SkipAntiCSRFCheck {
		check := false
		req.AntiCsrfCheck = &check
	}
	if opts.SessionOptional {
		required := false
		req.SessionRequired = &required
	}
	resp, err := invoke(ctx, c, c.rpc.GetSession, req)
	if err != nil {
		return nil, err
	}
	return &GetSessionResult{
		Status:         statusOf(resp.Status),
		Message:        resp.Message,
		Session:        session(resp.Session),
		NewAccessToken: tokenInfo(resp.NewAccessToken),
		InvalidClaims:  claimErrors(resp.InvalidClaims),
	}, nil
}

// RefreshSessionOptions are RefreshSession's optional arguments.
type RefreshSessionOptions struct {
	// AntiCSRFToken is the anti-CSRF token the client holds.
	AntiCSRFToken string
	// DisableAntiCSRF issues no new anti-CSRF token (tokens in headers).
	DisableAntiCSRF bool
}

// RefreshSession rotates a refresh token and detects token theft (SDK
// refresh_session_without_request_response). opts may be nil.
func (c *Client) RefreshSession(ctx context.Context, refreshToken string, opts *RefreshSessionOptions) (*RefreshResult, error) {
	if opts == nil {
		opts = &RefreshSessionOptions{}
	}
	req := &sessionv1.RefreshSessionRequest{RefreshToken: refreshToken, DisableAntiCsrf: opts.DisableAntiCSRF}
	if opts.AntiCSRFToken != "" {
		req.AntiCsrfToken = &opts.AntiCSRFToken
	}
	resp, err := invoke(ctx, c, c.rpc.RefreshSession, req)
	if err != nil {
		return nil, err
	}
	result := &RefreshResult{
		Status:        statusOf(resp.Status),
		Message:       resp.Message,
		Session:       session(resp.Session),
		AccessToken:   tokenInfo(resp.AccessToken),
		RefreshToken:  tokenInfo(resp.RefreshToken),
		AntiCSRFToken: resp.AntiCsrfToken,
	}
	if theft := resp.TokenTheft; theft != nil {
		result.TokenTheft = &TokenTheft{SessionHandle: theft.SessionHandle, UserID: theft.UserId}
	}
	return result, nil
}

// RevokeSession revokes one session: OK, or SESSION_DOES_NOT_EXIST when there was nothing to
// revoke (SDK revoke_session).
func (c *Client) RevokeSession(ctx context.Context, sessionHandle string) (*StatusResult, error) {
	return invokeForStatus(ctx, c, c.rpc.RevokeSession, &sessionv1.RevokeSessionRequest{SessionHandle: sessionHandle})
}

// RevokeAllSessionsForUser revokes every live session of userID; SessionHandles are their
// handles (empty when the user had none).
func (c *Client) RevokeAllSessionsForUser(ctx context.Context, userID string) (*SessionHandlesResult, error) {
	return invokeForHandles(ctx, c, c.rpc.RevokeAllSessionsForUser, &sessionv1.RevokeAllSessionsForUserRequest{UserId: userID})
}

// RevokeMultipleSessions revokes the given sessions; SessionHandles are the handles actually
// revoked (unknown handles are ignored).
func (c *Client) RevokeMultipleSessions(ctx context.Context, sessionHandles []string) (*SessionHandlesResult, error) {
	return invokeForHandles(ctx, c, c.rpc.RevokeMultipleSessions, &sessionv1.RevokeMultipleSessionsRequest{SessionHandles: sessionHandles})
}

// GetAllSessionHandlesForUser lists the handles of userID's live sessions in SessionHandles.
func (c *Client) GetAllSessionHandlesForUser(ctx context.Context, userID string) (*SessionHandlesResult, error) {
	return invokeForHandles(ctx, c, c.rpc.GetAllSessionHandlesForUser, &sessionv1.GetAllSessionHandlesForUserRequest{UserId: userID})
}

// GetSessionInformation reads what the core stores about a session.
func (c *Client) GetSessionInformation(ctx context.Context, sessionHandle string) (*SessionInformationResult, error) {
	resp, err := invoke(ctx, c, c.rpc.GetSessionInformation, &sessionv1.GetSessionInformationRequest{SessionHandle: sessionHandle})
	if err != nil {
		return nil, err
	}
	result := &SessionInformationResult{Status: statusOf(resp.Status), Message: resp.Message}
	if info := resp.SessionInformation; info != nil {
		result.Info = &SessionInformation{
			SessionHandle:                    info.SessionHandle,
			UserID:                           info.UserId,
			SessionDataInDatabase:            info.SessionDataInDatabase.AsMap(),
			Expiry:                           millis(info.Expiry),
			CustomClaimsInAccessTokenPayload: info.CustomClaimsInAccessTokenPayload.AsMap(),
			TimeCreated:                      millis(info.TimeCreated),
		}
	}
	return result, nil
}

// UpdateSessionDataInDatabase replaces the session's database data (nil means {}).
func (c *Client) UpdateSessionDataInDatabase(ctx context.Context, sessionHandle string, data JSON) (*StatusResult, error) {
	s, err := toStruct("the session data", data)
	if err != nil {
		return nil, err
	}
	return invokeForStatus(ctx, c, c.rpc.UpdateSessionDataInDatabase, &sessionv1.UpdateSessionDataInDatabaseRequest{SessionHandle: sessionHandle, NewSessionData: s})
}

// MergeIntoAccessTokenPayload shallow-merges update into the stored payload (a nil value removes
// its key); the next token the core mints carries it.
func (c *Client) MergeIntoAccessTokenPayload(ctx context.Context, sessionHandle string, update JSON) (*StatusResult, error) {
	s, err := toStruct("the payload update", update)
	if err != nil {
		return nil, err
	}
	return invokeForStatus(ctx, c, c.rpc.MergeIntoAccessTokenPayload, &sessionv1.MergeIntoAccessTokenPayloadRequest{SessionHandle: sessionHandle, AccessTokenPayloadUpdate: s})
}

// RegenerateAccessToken re-issues an access token with newPayload and the same expiry; a nil
// newPayload keeps the stored one.
func (c *Client) RegenerateAccessToken(ctx context.Context, accessToken string, newPayload JSON) (*RegenerateResult, error) {
	s, err := toStruct("the new payload", newPayload)
	if err != nil {
		return nil, err
	}
	resp, err := invoke(ctx, c, c.rpc.RegenerateAccessToken, &sessionv1.RegenerateAccessTokenRequest{AccessToken: accessToken, NewAccessTokenPayload: s})
	if err != nil {
		return nil, err
	}
	return &RegenerateResult{
		Status:        statusOf(resp.Status),
		Message:       resp.Message,
		SessionHandle: resp.GetSession().GetSessionHandle(),
		UserID:        resp.GetSession().GetUserId(),
		UserDataInJWT: resp.GetSession().GetUserDataInJwt().AsMap(),
		AccessToken:   tokenInfo(resp.AccessToken),
	}, nil
}

// SetClaimValue stores value as the primitive claim key ({"v": value, "t": now}).
func (c *Client) SetClaimValue(ctx context.Context, sessionHandle, key string, value any) (*StatusResult, error) {
	v, err := toValue("the claim value", value)
	if err != nil {
		return nil, err
	}
	return invokeForStatus(ctx, c, c.rpc.SetClaimValue, &sessionv1.SetClaimValueRequest{SessionHandle: sessionHandle, ClaimKey: key, Value: v})
}

// GetClaimValue reads the value of the claim key.
func (c *Client) GetClaimValue(ctx context.Context, sessionHandle, key string) (*ClaimValueResult, error) {
	resp, err := invoke(ctx, c, c.rpc.GetClaimValue, &sessionv1.GetClaimValueRequest{SessionHandle: sessionHandle, ClaimKey: key})
	if err != nil {
		return nil, err
	}
	result := &ClaimValueResult{Status: statusOf(resp.Status), Message: resp.Message, Present: resp.Value != nil}
	if resp.Value != nil {
		result.Value = resp.Value.AsInterface()
	}
	return result, nil
}

// RemoveClaim removes the claim key from the stored payload.
func (c *Client) RemoveClaim(ctx context.Context, sessionHandle, key string) (*StatusResult, error) {
	return invokeForStatus(ctx, c, c.rpc.RemoveClaim, &sessionv1.RemoveClaimRequest{SessionHandle: sessionHandle, ClaimKey: key})
}

// ValidateClaimsForSessionHandle runs claim validators against the stored payload; with
// override, only claimValidators run (not the server-wide ones).
func (c *Client) ValidateClaimsForSessionHandle(ctx context.Context, sessionHandle string, claimValidators []ClaimValidator, override bool) (*ClaimsValidationResult, error) {
	ms, err := validators(claimValidators)
	if err != nil {
		return nil, err
	}
	resp, err := invoke(ctx, c, c.rpc.ValidateClaimsForSessionHandle, &sessionv1.ValidateClaimsForSessionHandleRequest{
		SessionHandle: sessionHandle, ClaimValidators: ms, OverrideGlobalClaimValidators: override,
	})
	if err != nil {
		return nil, err
	}
	return &ClaimsValidationResult{Status: statusOf(resp.Status), Message: resp.Message, InvalidClaims: claimErrors(resp.InvalidClaims)}, nil
}

// FetchAndSetClaim fetches the current value of a claim the service's claims module defines and
// merges it into the stored payload (SDK fetch_and_set_claim): OK, or SESSION_DOES_NOT_EXIST. A
// key the module does not define is INVALID_ARGUMENT.
func (c *Client) FetchAndSetClaim(ctx context.Context, sessionHandle, key string) (*StatusResult, error) {
	return invokeForStatus(ctx, c, c.rpc.FetchAndSetClaim, &sessionv1.FetchAndSetClaimRequest{SessionHandle: sessionHandle, ClaimKey: key})
}

// ValidateClaimsInJwtPayload runs validators against a JWT payload the caller verified itself;
// nothing is fetched or stored (SDK validate_claims_in_jwt_payload): OK or INVALID_CLAIMS.
func (c *Client) ValidateClaimsInJwtPayload(ctx context.Context, userID string, payload JSON, claimValidators []ClaimValidator, override bool) (*ClaimsValidationResult, error) {
	s, err := toStruct("the JWT payload", payload)
	if err != nil {
		return nil, err
	}
	ms, err := validators(claimValidators)
	if err != nil {
		return nil, err
	}
	resp, err := invoke(ctx, c, c.rpc.ValidateClaimsInJwtPayload, &sessionv1.ValidateClaimsInJwtPayloadRequest{
		UserId: userID, JwtPayload: s, ClaimValidators: ms, OverrideGlobalClaimValidators: override,
	})
	if err != nil {
		return nil, err
	}
	return &ClaimsValidationResult{Status: statusOf(resp.Status), Message: resp.Message, InvalidClaims: claimErrors(resp.InvalidClaims)}, nil
}

// GetJWKS returns the core's public signing keys (dynamic keys newest first, then static keys).
func (c *Client) GetJWKS(ctx context.Context) (*JWKSResult, error) {
	resp, err := invoke(ctx, c, c.rpc.GetJWKS, &sessionv1.GetJWKSRequest{})
	if err != nil {
		return nil, err
	}
	keys := make([]JSONWebKey, 0, len(resp.Keys))
	for _, k := range resp.Keys {
		keys = append(keys, JSONWebKey{Kty: k.Kty, Kid: k.Kid, N: k.N, E: k.E, Alg: k.Alg, Use: k.Use})
	}
	return &JWKSResult{Status: singleOutcomeStatusOf(resp.Status), Keys: keys}, nil
}

// CreateJWTOptions are CreateJWT's optional arguments; the zero value is the SDK's default.
type CreateJWTOptions struct {
	// Validity is the JWT's lifetime in whole seconds (> 0); 0 means 100 years.
	Validity time.Duration
	// UseDynamicSigningKey signs with the current rotating key instead of the static one.
	UseDynamicSigningKey bool
}

// CreateJWT signs payload with the core's keys (RS256; iat and exp set by the core, iss
// defaulting to the service's issuer). opts may be nil.
func (c *Client) CreateJWT(ctx context.Context, payload JSON, opts *CreateJWTOptions) (*CreateJWTResult, error) {
	if opts == nil {
		opts = &CreateJWTOptions{}
	}
	s, err := toStruct("the JWT payload", payload)
	if err != nil {
		return nil, err
	}
	req := &sessionv1.CreateJWTRequest{Payload: s}
	if opts.Validity != 0 {
		seconds := int64(opts.Validity / time.Second)
		req.ValiditySeconds = &seconds
	}
	if opts.UseDynamicSigningKey {
		static := false
		req.UseStaticSigningKey = &static
	}
	resp, err := invoke(ctx, c, c.rpc.CreateJWT, req)
	if err != nil {
		return nil, err
	}
	return &CreateJWTResult{Status: statusOf(resp.Status), Message: resp.Message, JWT: resp.Jwt}, nil
}

// GetOpenIDDiscoveryConfiguration returns the issuer and the JWKS URI.
func (c *Client) GetOpenIDDiscoveryConfiguration(ctx context.Context) (*OpenIDConfiguration, error) {
	resp, err := invoke(ctx, c, c.rpc.GetOpenIdDiscoveryConfiguration, &sessionv1.GetOpenIdDiscoveryConfigurationRequest{})
	if err != nil {
		return nil, err
	}
	return &OpenIDConfiguration{Status: singleOutcomeStatusOf(resp.Status), Issuer: resp.Issuer, JWKSURI: resp.JwksUri}, nil
}
