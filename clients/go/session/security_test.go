package session_test

// Caller authentication (API keys with scopes) and transport security (TLS, mutual TLS), each
// against a service of its own started with those settings.

import (
	"crypto/x509"
	"testing"

	"sessionservice/session"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

const (
	fullKey   = "go-test-full-key-0123456789"
	verifyKey = "go-test-verify-key-0123456789"
)

func TestAPIKeyScopes(t *testing.T) {
	t.Parallel()
	keys := writeFile(t, "api-keys", []byte("# <key> <scope>\n"+fullKey+" full\n"+verifyKey+" verify\n"))
	s := serviceFor(t, nil, "--api-keys-file", keys)
	conn := dialFor(t, s.Address, nil)
	ctx := callContext(t)
	full := session.NewClient(conn, session.WithAPIKey(fullKey))
	verify := session.NewClient(conn, session.WithAPIKey(verifyKey))

	created, err := full.CreateSession(ctx, userID(t), nil)
	if err != nil {
		t.Fatalf("CreateSession with the full key: %v", err)
	}
	verified, err := verify.GetSession(ctx, created.Session.AccessToken, nil)
	if err != nil {
		t.Fatalf("GetSession with the verify key: %v", err)
	}
	expectStatus(t, "GetSession with the verify key", verified.Status, session.StatusOK)
	jwks, err := verify.GetJWKS(ctx)
	if err != nil {
		t.Fatalf("GetJWKS with the verify key: %v", err)
	}
	expectStatus(t, "GetJWKS with the verify key", jwks.Status, session.StatusOK)

	// A verify key cannot write.
	_, err = verify.CreateSession(ctx, userID(t), nil)
	expectCode(t, "CreateSession with the verify key", err, codes.PermissionDenied)
	_, err = verify.RefreshSession(ctx, created.RefreshToken.Token, nil)
	expectCode(t, "RefreshSession with the verify key", err, codes.PermissionDenied)
	_, err = verify.RevokeSession(ctx, created.Session.SessionHandle)
	expectCode(t, "RevokeSession with the verify key", err, codes.PermissionDenied)

	_, err = session.NewClient(conn).GetSession(ctx, created.Session.AccessToken, nil)
	expectCode(t, "no key", err, codes.Unauthenticated)
	_, err = session.NewClient(conn, session.WithAPIKey(fullKey+"x")).GetSession(ctx, created.Session.AccessToken, nil)
	expectCode(t, "an unknown key", err, codes.Unauthenticated)
	if serving, err := session.NewClient(conn).Health(ctx); err != nil || serving != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health needs no key: %v, %v", serving, err)
	}

	// The refused calls changed nothing: the session is still there.
	still, err := full.GetSession(ctx, created.Session.AccessToken, &session.GetSessionOptions{CheckDatabase: true})
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "the session after the refused writes", still.Status, session.StatusOK)
}

func TestTLS(t *testing.T) {
	t.Parallel()
	ca := newAuthority(t, "session-service test CA")
	cert, key := ca.issue(t, "session-service", x509.ExtKeyUsageServerAuth)
	s := serviceFor(t, clientTLS(t, ca, nil, nil),
		"--tls-cert-file", writeFile(t, "server.pem", cert), "--tls-key-file", writeFile(t, "server-key.pem", key))
	ctx := callContext(t)

	client := session.NewClient(dialFor(t, s.Address, clientTLS(t, ca, nil, nil)))
	created, err := client.CreateSession(ctx, userID(t), nil)
	if err != nil {
		t.Fatalf("CreateSession over TLS: %v", err)
	}
	expectStatus(t, "GetSession over TLS", get(t, client, created.Session.AccessToken, nil).Status, session.StatusOK)

	_, err = session.NewClient(dialFor(t, s.Address, nil)).GetSession(ctx, created.Session.AccessToken, nil)
	expectCode(t, "plaintext to a TLS port", err, codes.Unavailable)
	stranger := newAuthority(t, "another CA")
	_, err = session.NewClient(dialFor(t, s.Address, clientTLS(t, stranger, nil, nil))).GetSession(ctx, created.Session.AccessToken, nil)
	expectCode(t, "a server certificate from an untrusted CA", err, codes.Unavailable)
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	ca := newAuthority(t, "session-service test CA")
	cert, key := ca.issue(t, "session-service", x509.ExtKeyUsageServerAuth)
	clientCert, clientKey := ca.issue(t, "go-caller", x509.ExtKeyUsageClientAuth)
	withCert := clientTLS(t, ca, clientCert, clientKey)
	s := serviceFor(t, withCert,
		"--tls-cert-file", writeFile(t, "server.pem", cert), "--tls-key-file", writeFile(t, "server-key.pem", key),
		"--tls-client-ca-file", writeFile(t, "client-ca.pem", ca.pem))
	ctx := callContext(t)

	created, err := session.NewClient(dialFor(t, s.Address, withCert)).CreateSession(ctx, userID(t), nil)
	if err != nil {
		t.Fatalf("CreateSession with a client certificate: %v", err)
	}
	_, err = session.NewClient(dialFor(t, s.Address, clientTLS(t, ca, nil, nil))).GetSession(ctx, created.Session.AccessToken, nil)
	expectCode(t, "TLS without a client certificate", err, codes.Unavailable)
	stranger := newAuthority(t, "another CA")
	otherCert, otherKey := stranger.issue(t, "intruder", x509.ExtKeyUsageClientAuth)
	_, err = session.NewClient(dialFor(t, s.Address, clientTLS(t, ca, otherCert, otherKey))).GetSession(ctx, created.Session.AccessToken, nil)
	expectCode(t, "a client certificate from another CA", err, codes.Unavailable)
}
