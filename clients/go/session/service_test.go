package session_test

// Test support: the repository's own session-service on a free port with a throwaway data
// directory, and the files the TLS and API-key tests give it.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sessionservice/session"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// repoRoot is the repository, from this package's directory (go test runs tests in it).
const repoRoot = "../../.."

const readyTimeout = 60 * time.Second

// lockedBuffer collects the service's output for failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// service is a running `session-service serve`.
type service struct {
	Address string
	cmd     *exec.Cmd
	dataDir string
	output  *lockedBuffer
	exited  chan struct{}
	waitErr error
}

func serviceBinary() string {
	if bin := os.Getenv("SESSION_SERVICE_BIN"); bin != "" {
		return bin
	}
	return filepath.Join(repoRoot, ".venv", "bin", "session-service")
}

func freePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

// startService runs the service with extra serve flags and returns once it answers on its port
// (the caller waits for SERVING with the credentials it needs).
func startService(args ...string) (*service, error) {
	// The package directory may be reached through the GOPATH's symlink: resolve it before
	// going up to the repository.
	wd, err := os.Getwd()
	if err == nil {
		wd, err = filepath.EvalSymlinks(wd)
	}
	if err != nil {
		return nil, err
	}
	fixtures := filepath.Join(wd, repoRoot, "clients", "testdata")
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp("", "session-service-go-")
	if err != nil {
		return nil, err
	}
	s := &service{Address: fmt.Sprintf("127.0.0.1:%d", port), dataDir: dataDir, output: &lockedBuffer{}, exited: make(chan struct{})}
	flags := append([]string{"serve", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--data-dir", dataDir, "--log-level", "warning"}, args...)
	s.cmd = exec.Command(serviceBinary(), flags...)
	s.cmd.Env = []string{"PYTHONPATH=" + fixtures} // for --claims-module client_test_claims
	for _, kv := range os.Environ() {
		// The service reads its settings from SESSION_SERVICE_* variables.
		if !strings.HasPrefix(kv, "SESSION_SERVICE_") && !strings.HasPrefix(kv, "PYTHONPATH=") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	// If the test binary dies without stopping it (a panic in a test skips TestMain's deferred
	// stop), the kernel sends the service SIGTERM.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("start %s (set SESSION_SERVICE_BIN or run ./dev gen): %w", serviceBinary(), err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// waitForServing waits on grpc.health.v1 Watch through conn, failing fast if the process exits.
func (s *service) waitForServing(conn grpc.ClientConnInterface) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := session.NewClient(conn).WaitForServing(ctx); err != nil {
		select {
		case <-s.exited:
			return fmt.Errorf("session-service exited (%v) before SERVING:\n%s", s.waitErr, s.output)
		default:
			return fmt.Errorf("session-service not SERVING: %w\n%s", err, s.output)
		}
	}
	return nil
}

// stop sends SIGTERM and returns an error unless the service exits with code 0.
func (s *service) stop() error {
	defer os.RemoveAll(s.dataDir)
	select {
	case <-s.exited:
	default:
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			return err
		}
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
			return fmt.Errorf("session-service did not exit within 30 s of SIGTERM:\n%s", s.output)
		}
	}
	if s.waitErr != nil {
		return fmt.Errorf("session-service: %v after SIGTERM:\n%s", s.waitErr, s.output)
	}
	return nil
}

// dial connects to address; creds nil means plaintext.
func dial(address string, creds credentials.TransportCredentials) (*grpc.ClientConn, error) {
	if creds == nil {
		return grpc.Dial(address, grpc.WithInsecure())
	}
	return grpc.Dial(address, grpc.WithTransportCredentials(creds))
}

// serviceFor starts a service for one test, waits for SERVING (through creds, nil for
// plaintext) and stops it when the test ends, failing the test unless it exits with 0.
func serviceFor(t *testing.T, creds credentials.TransportCredentials, args ...string) *service {
	t.Helper()
	s, err := startService(args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})
	conn := dialFor(t, s.Address, creds)
	if err := s.waitForServing(conn); err != nil {
		t.Fatal(err)
	}
	return s
}

// dialFor is dial with the connection closed when the test ends.
func dialFor(t *testing.T, address string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := dial(address, creds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// callContext bounds a test's calls.
func callContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// writeFile writes a test input file into the test's temporary directory.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// authority is a throwaway certificate authority that issues leaf certificates.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// serialNumber is random, so that parallel tests need no shared counter.
func serialNumber(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// signed makes a key pair and a certificate for it from template (valid for an hour either side
// of now), signed by parent, or self-signed when parent is nil.
func signed(t *testing.T, template *x509.Certificate, parent *authority) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template.SerialNumber = serialNumber(t)
	template.NotBefore, template.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	issuer, issuerKey := template, key
	if parent != nil {
		issuer, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, issuer, &key.PublicKey, issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func newAuthority(t *testing.T, name string) *authority {
	t.Helper()
	key, der := signed(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &authority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and PKCS#8 key for 127.0.0.1, for a server or a client.
func (a *authority) issue(t *testing.T, name string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, der := signed(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:    []string{"localhost"},
	}, a)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// clientTLS trusts ca; with a certificate and key it also presents them (mutual TLS).
func clientTLS(t *testing.T, ca *authority, certPEM, keyPEM []byte) credentials.TransportCredentials {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	config := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if certPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(config)
}
