package session_test

// The standard flow against a live session-service (started once in TestMain): create, get
// (cached and check_database), refresh, promotion, theft, revoke, session data, claims,
// CreateJWT/JWKS, health, and errors as gRPC codes.

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"sessionservice/session"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// shared is the service most tests use; each test works on its own users.
var (
	shared     *service
	sharedConn *grpc.ClientConn
)

func TestMain(m *testing.M) {
	os.Exit(runWithService(m))
}

func runWithService(m *testing.M) int {
	var err error
	if shared, err = startService(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := shared.stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}()
	if sharedConn, err = dial(shared.Address, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer sharedConn.Close()
	if err := shared.waitForServing(sharedConn); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func newClient() *session.Client {
	return session.NewClient(sharedConn)
}

func userID(t *testing.T) string {
	return fmt.Sprintf("go-%s-%d", t.Name(), time.Now().UnixNano())
}

func create(t *testing.T, client *session.Client, user string, opts *session.CreateSessionOptions) *session.CreatedSession {
	t.Helper()
	created, err := client.CreateSession(callContext(t), user, opts)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	expectStatus(t, "CreateSession", created.Status, session.StatusOK)
	return created
}

func get(t *testing.T, client *session.Client, token string, opts *session.GetSessionOptions) *session.GetSessionResult {
	t.Helper()
	result, err := client.GetSession(callContext(t), token, opts)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	return result
}

func expectStatus(t *testing.T, what string, got, want session.Status) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %s, want %s", what, got, want)
	}
}

func expectCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if status.Code(err) != want {
		t.Fatalf("%s: %v, want code %s", what, err, want)
	}
}

func TestCreateThenGetCachedAndCheckDatabase(t *testing.T) {
	client := newClient()
	user := userID(t)
	payload := session.JSON{"role": "admin", "level": 3.0, "flags": []any{"a", true, nil}, "nested": session.JSON{"ok": true}}
	created := create(t, client, user, &session.CreateSessionOptions{
		AccessTokenPayload:    payload,
		SessionDataInDatabase: session.JSON{"secret": "kept in the database"},
	})
	if created.Session.UserID != user || created.Session.SessionHandle == "" {
		t.Fatalf("created %v for %q", created.Session, user)
	}
	for key, want := range payload {
		if got := created.Session.AccessTokenPayload[key]; !reflect.DeepEqual(got, want) {
			t.Errorf("payload[%q] = %#v, want %#v", key, got, want)
		}
	}
	if created.AccessToken.Token != created.Session.AccessToken || created.RefreshToken.Token == "" {
		t.Fatal("the access token must equal the session's and a refresh token must be issued")
	}
	if !created.AccessToken.Expiry.After(time.Now()) || created.RefreshToken.Expiry.Before(created.AccessToken.Expiry) {
		t.Fatalf("expiries: access %v, refresh %v", created.AccessToken.Expiry, created.RefreshToken.Expiry)
	}
	if created.AntiCSRFToken != nil {
		t.Fatal("no anti-CSRF token without anti-CSRF VIA_TOKEN")
	}
	if printed := fmt.Sprintf("%v %+v %#v", *created, created, created); strings.Contains(printed, created.AccessToken.Token) || strings.Contains(printed, created.RefreshToken.Token) {
		t.Fatal("printing a result must not show its tokens")
	}

	for _, opts := range []*session.GetSessionOptions{nil, nil, {CheckDatabase: true}} { // twice from the cache
		result := get(t, client, created.Session.AccessToken, opts)
		expectStatus(t, "GetSession", result.Status, session.StatusOK)
		if result.Session.SessionHandle != created.Session.SessionHandle || result.Session.AccessTokenPayload["sub"] != user {
			t.Fatalf("GetSession returned %v", result.Session)
		}
		if result.NewAccessToken != nil {
			t.Fatal("no new access token for a fresh one")
		}
	}
}

func TestGetSessionWithoutAUsableToken(t *testing.T) {
	client := newClient()
	expectStatus(t, "no token", get(t, client, "", nil).Status, session.StatusUnauthorised)
	expectStatus(t, "no token, session optional", get(t, client, "", &session.GetSessionOptions{SessionOptional: true}).Status, session.StatusNoSession)
	garbage := get(t, client, "not-a-token", nil)
	expectStatus(t, "unparsable token", garbage.Status, session.StatusUnauthorised)
	if garbage.Message == "" || garbage.Session != nil {
		t.Fatalf("UNAUTHORISED needs a message and no session: %+v", garbage)
	}
}

func TestARevokedSessionIsRefusedWithAndWithoutCheckDatabase(t *testing.T) {
	client := newClient()
	created := create(t, client, userID(t), nil)
	token := created.Session.AccessToken
	expectStatus(t, "before revoking", get(t, client, token, nil).Status, session.StatusOK)

	revoked, err := client.RevokeSession(callContext(t), created.Session.SessionHandle)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "RevokeSession", revoked.Status, session.StatusOK)
	// The service follows its core's revocation feed, and the process that revoked the
	// session refuses it at once, verifying locally (the SDK would accept the token until
	// it expires) ...
	expectStatus(t, "local verification after revoking", get(t, client, token, nil).Status, session.StatusUnauthorised)
	// ... as the core does.
	expectStatus(t, "check_database after revoking", get(t, client, token, &session.GetSessionOptions{CheckDatabase: true}).Status, session.StatusUnauthorised)

	again, err := client.RevokeSession(callContext(t), created.Session.SessionHandle)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "revoking again", again.Status, session.StatusSessionDoesNotExist)
}

func TestRefreshPromotionAndTheft(t *testing.T) {
	client := newClient()
	user := userID(t)
	created := create(t, client, user, nil)
	ctx := callContext(t)

	refreshed, err := client.RefreshSession(ctx, created.RefreshToken.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "refresh", refreshed.Status, session.StatusOK)
	if refreshed.RefreshToken.Token == created.RefreshToken.Token || refreshed.AccessToken.Token == created.AccessToken.Token {
		t.Fatal("a refresh issues new tokens")
	}
	if refreshed.Session.SessionHandle != created.Session.SessionHandle || refreshed.TokenTheft != nil {
		t.Fatalf("refresh result: %+v", refreshed)
	}

	// The first use of the new access token promotes the new refresh token: the core issues
	// yet another access token, which the caller must hand over.
	promoted := get(t, client, refreshed.AccessToken.Token, nil)
	expectStatus(t, "first use after refresh", promoted.Status, session.StatusOK)
	if promoted.NewAccessToken == nil || promoted.NewAccessToken.Token != promoted.Session.AccessToken || promoted.Session.AccessToken == refreshed.AccessToken.Token {
		t.Fatalf("promotion must return a new access token: %+v", promoted)
	}
	expectStatus(t, "the promoted token", get(t, client, promoted.Session.AccessToken, nil).Status, session.StatusOK)

	theft, err := client.RefreshSession(ctx, created.RefreshToken.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "reusing the first refresh token", theft.Status, session.StatusTokenTheftDetected)
	if theft.TokenTheft == nil || theft.TokenTheft.SessionHandle != created.Session.SessionHandle || theft.TokenTheft.UserID != user {
		t.Fatalf("theft result: %+v", theft)
	}
	if theft.AccessToken != nil || theft.Session != nil {
		t.Fatal("a theft result carries no tokens")
	}
	// The service revoked the session, as the SDK's default theft handler does.
	gone := get(t, client, promoted.Session.AccessToken, &session.GetSessionOptions{CheckDatabase: true})
	expectStatus(t, "check_database after the theft", gone.Status, session.StatusUnauthorised)
	revoked, err := client.RevokeSession(ctx, theft.TokenTheft.SessionHandle)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "revoking the stolen session again", revoked.Status, session.StatusSessionDoesNotExist)
	after, err := client.RefreshSession(ctx, refreshed.RefreshToken.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "refresh after the theft", after.Status, session.StatusUnauthorised)

	empty, err := client.RefreshSession(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "refresh without a token", empty.Status, session.StatusUnauthorised)
}

func sorted(values []string) []string {
	out := append([]string(nil), values...)
	sort.Strings(out)
	return out
}

func TestRevokeForUserAndMultiple(t *testing.T) {
	client := newClient()
	user := userID(t)
	ctx := callContext(t)
	var handles []string
	for i := 0; i < 3; i++ {
		handles = append(handles, create(t, client, user, nil).Session.SessionHandle)
	}
	listed, err := client.GetAllSessionHandlesForUser(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "GetAllSessionHandlesForUser", listed.Status, session.StatusOK)
	if !reflect.DeepEqual(sorted(listed.SessionHandles), sorted(handles)) {
		t.Fatalf("handles %v, want %v", listed.SessionHandles, handles)
	}
	revoked, err := client.RevokeMultipleSessions(ctx, []string{handles[0], "no-such-handle"})
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "RevokeMultipleSessions", revoked.Status, session.StatusOK)
	if !reflect.DeepEqual(revoked.SessionHandles, handles[:1]) {
		t.Fatalf("RevokeMultipleSessions revoked %v, want %v", revoked.SessionHandles, handles[:1])
	}
	all, err := client.RevokeAllSessionsForUser(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "RevokeAllSessionsForUser", all.Status, session.StatusOK)
	if !reflect.DeepEqual(sorted(all.SessionHandles), sorted(handles[1:])) {
		t.Fatalf("RevokeAllSessionsForUser revoked %v, want %v", all.SessionHandles, handles[1:])
	}

	// Nothing left to list or revoke is still OK, with no handles.
	left, err := client.GetAllSessionHandlesForUser(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	none, err := client.RevokeAllSessionsForUser(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := client.RevokeMultipleSessions(ctx, handles)
	if err != nil {
		t.Fatal(err)
	}
	for what, result := range map[string]*session.SessionHandlesResult{
		"GetAllSessionHandlesForUser after revoking all": left,
		"RevokeAllSessionsForUser again":                 none,
		"RevokeMultipleSessions of revoked sessions":     unknown,
	} {
		expectStatus(t, what, result.Status, session.StatusOK)
		if len(result.SessionHandles) != 0 {
			t.Fatalf("%s: handles %v, want none", what, result.SessionHandles)
		}
	}
}

func TestSessionDataAndPayload(t *testing.T) {
	client := newClient()
	user := userID(t)
	ctx := callContext(t)
	created := create(t, client, user, &session.CreateSessionOptions{
		AccessTokenPayload:    session.JSON{"role": "admin"},
		SessionDataInDatabase: session.JSON{"cart": 2.0},
	})
	handle := created.Session.SessionHandle

	info, err := client.GetSessionInformation(ctx, handle)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "GetSessionInformation", info.Status, session.StatusOK)
	if info.Info.UserID != user || info.Info.SessionDataInDatabase["cart"] != 2.0 || info.Info.CustomClaimsInAccessTokenPayload["role"] != "admin" {
		t.Fatalf("information: %+v", info.Info)
	}
	if info.Info.TimeCreated.After(time.Now()) || !info.Info.Expiry.After(time.Now()) {
		t.Fatalf("times: created %v, expiry %v", info.Info.TimeCreated, info.Info.Expiry)
	}

	updated, err := client.UpdateSessionDataInDatabase(ctx, handle, session.JSON{"cart": 5.0})
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "UpdateSessionDataInDatabase", updated.Status, session.StatusOK)
	merged, err := client.MergeIntoAccessTokenPayload(ctx, handle, session.JSON{"plan": "pro", "role": nil})
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "MergeIntoAccessTokenPayload", merged.Status, session.StatusOK)
	info, err = client.GetSessionInformation(ctx, handle)
	if err != nil {
		t.Fatal(err)
	}
	claims := info.Info.CustomClaimsInAccessTokenPayload
	if info.Info.SessionDataInDatabase["cart"] != 5.0 || claims["plan"] != "pro" || claims["role"] != nil {
		t.Fatalf("after update and merge: %+v", info.Info)
	}

	regenerated, err := client.RegenerateAccessToken(ctx, created.Session.AccessToken, session.JSON{"plan": "team"})
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "RegenerateAccessToken", regenerated.Status, session.StatusOK)
	if regenerated.SessionHandle != handle || regenerated.UserDataInJWT["plan"] != "team" || regenerated.AccessToken == nil {
		t.Fatalf("regenerated: %+v", regenerated)
	}
	verified := get(t, client, regenerated.AccessToken.Token, nil)
	expectStatus(t, "the regenerated token", verified.Status, session.StatusOK)
	if verified.Session.AccessTokenPayload["plan"] != "team" {
		t.Fatalf("regenerated payload: %v", verified.Session.AccessTokenPayload)
	}

	unknown, err := client.GetSessionInformation(ctx, "no-such-handle")
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "information of an unknown session", unknown.Status, session.StatusSessionDoesNotExist)
	if unknown.Info != nil {
		t.Fatal("no information for an unknown session")
	}
	noUpdate, err := client.UpdateSessionDataInDatabase(ctx, "no-such-handle", nil)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "updating an unknown session", noUpdate.Status, session.StatusSessionDoesNotExist)
}

func TestClaims(t *testing.T) {
	client := newClient()
	ctx := callContext(t)
	nowMs := float64(time.Now().UnixMilli())
	created := create(t, client, userID(t), &session.CreateSessionOptions{AccessTokenPayload: session.JSON{
		"st-role":  session.JSON{"v": []any{"admin", "editor"}, "t": nowMs},
		"st-email": session.JSON{"v": true, "t": nowMs - 10*60*1000}, // set ten minutes ago
	}})
	token, handle := created.Session.AccessToken, created.Session.SessionHandle

	ok := get(t, client, token, &session.GetSessionOptions{ClaimValidators: []session.ClaimValidator{
		session.Includes("st-role", "admin"),
		session.IncludesAll("st-role", "admin", "editor"),
		session.ExcludesAll("st-role", "root"),
		session.HasValue("st-email", true),
	}})
	expectStatus(t, "satisfied validators", ok.Status, session.StatusOK)

	failed := get(t, client, token, &session.GetSessionOptions{ClaimValidators: []session.ClaimValidator{
		session.Includes("st-role", "root").WithID("needs-root"),
		session.Excludes("st-role", "editor"),
		session.HasValue("st-email", true).WithMaxAge(60),
	}})
	expectStatus(t, "failing validators", failed.Status, session.StatusInvalidClaims)
	if failed.Session == nil || failed.Session.SessionHandle != handle {
		t.Fatal("INVALID_CLAIMS still carries the verified session")
	}
	var ids, messages []string
	for _, e := range failed.InvalidClaims {
		ids = append(ids, e.ID)
		messages = append(messages, fmt.Sprint(e.Reason["message"]))
	}
	if want := []string{"needs-root", "st-role", "st-email"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("failed validator ids %v, want %v", ids, want)
	}
	if messages[0] != "wrong value" || messages[2] != "expired" {
		t.Fatalf("reasons: %+v", failed.InvalidClaims)
	}

	set, err := client.SetClaimValue(ctx, handle, "st-plan", "pro")
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "SetClaimValue", set.Status, session.StatusOK)
	value, err := client.GetClaimValue(ctx, handle, "st-plan")
	if err != nil {
		t.Fatal(err)
	}
	if value.Status != session.StatusOK || !value.Present || value.Value != "pro" {
		t.Fatalf("GetClaimValue: %+v", value)
	}
	valid, err := client.ValidateClaimsForSessionHandle(ctx, handle, []session.ClaimValidator{session.HasValue("st-plan", "pro")}, false)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "ValidateClaimsForSessionHandle", valid.Status, session.StatusOK)
	invalid, err := client.ValidateClaimsForSessionHandle(ctx, handle, []session.ClaimValidator{session.HasValue("st-plan", "free")}, true)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "ValidateClaimsForSessionHandle, wrong value", invalid.Status, session.StatusInvalidClaims)
	if len(invalid.InvalidClaims) != 1 || invalid.InvalidClaims[0].Reason["actualValue"] != "pro" {
		t.Fatalf("invalid claims: %+v", invalid.InvalidClaims)
	}

	removed, err := client.RemoveClaim(ctx, handle, "st-plan")
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "RemoveClaim", removed.Status, session.StatusOK)
	gone, err := client.GetClaimValue(ctx, handle, "st-plan")
	if err != nil {
		t.Fatal(err)
	}
	if gone.Status != session.StatusOK || gone.Present {
		t.Fatalf("after RemoveClaim: %+v", gone)
	}
	missing, err := client.GetClaimValue(ctx, "no-such-handle", "st-plan")
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "claim of an unknown session", missing.Status, session.StatusSessionDoesNotExist)
}

func mustDecode(t *testing.T, part string) []byte {
	t.Helper()
	data, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// publicKey finds kid in the JWKS the service publishes.
func publicKey(t *testing.T, keys []session.JSONWebKey, kid string) *rsa.PublicKey {
	t.Helper()
	for _, key := range keys {
		if key.Kid == kid {
			if key.Kty != "RSA" || key.Alg != "RS256" || key.Use != "sig" {
				t.Fatalf("key %+v", key)
			}
			return &rsa.PublicKey{N: new(big.Int).SetBytes(mustDecode(t, key.N)), E: int(new(big.Int).SetBytes(mustDecode(t, key.E)).Int64())}
		}
	}
	t.Fatalf("kid %q is not in the JWKS", kid)
	return nil
}

func signatureValid(t *testing.T, key *rsa.PublicKey, header, payload, signature string) bool {
	digest := sha256.Sum256([]byte(header + "." + payload))
	return rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], mustDecode(t, signature)) == nil
}

// verifyRS256 checks a compact JWS against the JWKS and returns its key id and claims.
func verifyRS256(t *testing.T, jwt string, keys []session.JSONWebKey) (kid string, claims map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	var header struct{ Alg, Kid string }
	if err := json.Unmarshal(mustDecode(t, parts[0]), &header); err != nil {
		t.Fatal(err)
	}
	if header.Alg != "RS256" {
		t.Fatalf("alg %q", header.Alg)
	}
	if !signatureValid(t, publicKey(t, keys, header.Kid), parts[0], parts[1], parts[2]) {
		t.Fatal("the signature does not verify")
	}
	if err := json.Unmarshal(mustDecode(t, parts[1]), &claims); err != nil {
		t.Fatal(err)
	}
	return header.Kid, claims
}

func TestCreateJWTVerifiesAgainstJWKS(t *testing.T) {
	client := newClient()
	ctx := callContext(t)
	jwks, err := client.GetJWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "GetJWKS", jwks.Status, session.StatusOK)
	keys := jwks.Keys
	discovery, err := client.GetOpenIDDiscoveryConfiguration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "GetOpenIDDiscoveryConfiguration", discovery.Status, session.StatusOK)
	if discovery.Issuer == "" || !strings.HasSuffix(discovery.JWKSURI, "/jwt/jwks.json") {
		t.Fatalf("discovery: %+v", discovery)
	}

	static, err := client.CreateJWT(ctx, session.JSON{"sub": "go-service", "scope": []any{"read"}}, &session.CreateJWTOptions{Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "CreateJWT", static.Status, session.StatusOK)
	kid, claims := verifyRS256(t, static.JWT, keys)
	if !strings.HasPrefix(kid, "s-") || claims["sub"] != "go-service" || claims["iss"] != discovery.Issuer {
		t.Fatalf("kid %q, claims %v", kid, claims)
	}
	if lifetime := claims["exp"].(float64) - claims["iat"].(float64); lifetime != 3600 {
		t.Fatalf("lifetime %v s, want 3600", lifetime)
	}

	dynamic, err := client.CreateJWT(ctx, session.JSON{"sub": "go-service"}, &session.CreateJWTOptions{UseDynamicSigningKey: true})
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "CreateJWT with the dynamic key", dynamic.Status, session.StatusOK)
	if kid, _ := verifyRS256(t, dynamic.JWT, keys); !strings.HasPrefix(kid, "d-") {
		t.Fatalf("dynamic key id %q", kid)
	}

	// The check above is real: a changed payload no longer verifies.
	parts := strings.Split(static.JWT, ".")
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"someone-else"}`))
	if signatureValid(t, publicKey(t, keys, kid), parts[0], forged, parts[2]) {
		t.Fatal("a forged payload verified")
	}
}

func TestHealthCheckAndWatch(t *testing.T) {
	client := newClient()
	ctx := callContext(t)
	serving, err := client.Health(ctx)
	if err != nil || serving != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Health: %v, %v", serving, err)
	}
	if err := client.WaitForServing(ctx); err != nil {
		t.Fatal(err)
	}
	health := healthpb.NewHealthClient(sharedConn)
	byName, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "session.v1.SessionService"})
	if err != nil || byName.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check by service name: %v, %v", byName, err)
	}
	_, err = health.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	expectCode(t, "Check of an unknown service", err, codes.NotFound)

	watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := watch.Recv()
	if err != nil || first.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: %v, %v", first, err)
	}
}

func TestWatchReportsShutdown(t *testing.T) {
	t.Parallel()
	s := serviceFor(t, nil)
	conn := dialFor(t, s.Address, nil)
	watch, err := healthpb.NewHealthClient(conn).Watch(callContext(t), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := watch.Recv(); err != nil || first.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: %v, %v", first, err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	next, err := watch.Recv()
	if err != nil || next.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("after SIGTERM, Watch: %v, %v", next, err)
	}
	if err := s.stop(); err != nil { // waits for the exit; fails unless the code is 0
		t.Fatal(err)
	}
}

func TestFailuresAreGRPCCodes(t *testing.T) {
	client := newClient()
	ctx := callContext(t)
	_, err := client.CreateSession(ctx, "", nil)
	expectCode(t, "empty user id", err, codes.InvalidArgument)
	_, err = client.CreateSession(ctx, userID(t), &session.CreateSessionOptions{AccessTokenPayload: session.JSON{"sub": "someone-else"}})
	expectCode(t, "a protected claim in the payload", err, codes.InvalidArgument)
	_, err = client.CreateJWT(ctx, session.JSON{}, &session.CreateJWTOptions{Validity: -time.Second})
	expectCode(t, "a negative JWT lifetime", err, codes.InvalidArgument)
	_, err = client.RevokeSession(ctx, "")
	expectCode(t, "an empty session handle", err, codes.InvalidArgument)
	_, err = client.GetAllSessionHandlesForUser(ctx, "")
	expectCode(t, "listing the handles of an empty user id", err, codes.InvalidArgument)
	_, err = client.RevokeAllSessionsForUser(ctx, "")
	expectCode(t, "revoking the sessions of an empty user id", err, codes.InvalidArgument)

	// A value that is not JSON is refused before anything is sent.
	_, err = client.CreateSession(ctx, userID(t), &session.CreateSessionOptions{AccessTokenPayload: session.JSON{"when": time.Now()}})
	if err == nil || !strings.Contains(err.Error(), "AccessTokenPayload is not a JSON object") {
		t.Fatalf("a non-JSON payload: %v", err)
	}
	_, err = client.GetSession(ctx, "token", &session.GetSessionOptions{ClaimValidators: []session.ClaimValidator{{}}})
	if err == nil || !strings.Contains(err.Error(), "must be built with") {
		t.Fatalf("a zero ClaimValidator: %v", err)
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = client.GetSession(cancelled, "token", nil)
	expectCode(t, "a cancelled context", err, codes.Canceled)
	_, err = session.NewClient(sharedConn, session.WithTimeout(time.Nanosecond)).CreateSession(context.Background(), userID(t), nil)
	expectCode(t, "a deadline that has passed", err, codes.DeadlineExceeded)
}
