package sessionservice.client;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;
import sessionservice.client.Results.CreatedSession;

/**
 * Caller authentication (API keys with scopes) and mutual TLS, each against a service of its own
 * started with those settings. Certificates come from the openssl command.
 */
public class SecurityTest {
  private static final String FULL_KEY = "java-test-full-key-0123456789";
  private static final String VERIFY_KEY = "java-test-verify-key-0123456789";

  private Path dir;
  private final List<ManagedChannel> channels = new ArrayList<>();

  @Before
  public void createDirectory() throws IOException {
    dir = Files.createTempDirectory("session-service-java-security-");
  }

  @After
  public void cleanUp() throws InterruptedException {
    for (ManagedChannel channel : channels) {
      channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    }
    ServiceProcess.delete(dir);
  }

  private ManagedChannel channel(String address, ChannelCredentials credentials) {
    ManagedChannel channel = Grpc.newChannelBuilder(address, credentials).build();
    channels.add(channel);
    return channel;
  }

  private static Code codeOf(Runnable call) {
    return assertThrows(StatusRuntimeException.class, call::run).getStatus().getCode();
  }

  @Test
  public void apiKeyScopes() throws Exception {
    Path keys = Files.writeString(dir.resolve("api-keys"), "# <key> <scope>\n" + FULL_KEY + " full\n" + VERIFY_KEY + " verify\n");
    try (ServiceProcess service = ServiceProcess.startServing("--api-keys-file", keys.toString())) {
      ManagedChannel channel = service.channel();
      SessionClient full = new SessionClient(channel).withApiKey(FULL_KEY);
      SessionClient verify = new SessionClient(channel).withApiKey(VERIFY_KEY);

      CreatedSession created = full.createSession("java-keys-" + System.nanoTime(), null);
      String token = created.session().accessToken();
      assertEquals(Status.OK, verify.getSession(token).status());
      assertEquals(Status.OK, verify.getJwks().status());

      assertEquals(Code.PERMISSION_DENIED, codeOf(() -> verify.createSession("java-keys-denied", null)));
      assertEquals(Code.PERMISSION_DENIED, codeOf(() -> verify.refreshSession(created.refreshToken().token())));
      assertEquals(Code.PERMISSION_DENIED, codeOf(() -> verify.revokeSession(created.session().sessionHandle())));
      assertEquals(Code.UNAUTHENTICATED, codeOf(() -> new SessionClient(channel).getSession(token)));
      assertEquals(Code.UNAUTHENTICATED, codeOf(() -> new SessionClient(channel).withApiKey(FULL_KEY + "x").getSession(token)));
      assertEquals("health needs no key", ServingStatus.SERVING, new SessionClient(channel).health());

      var still = full.getSession(sessionservice.session.v1.GetSessionRequest.newBuilder()
          .setAccessToken(token).setCheckDatabase(true).build());
      assertEquals("the refused writes changed nothing", Status.OK, still.status());
    }
  }

  @Test
  public void mutualTls() throws Exception {
    Path ca = authority("ca", "session-service test CA");
    Path server = issue("server", ca, "session-service", "serverAuth");
    Path caller = issue("caller", ca, "java-caller", "clientAuth");
    Path stranger = authority("stranger", "another CA");
    Path intruder = issue("intruder", stranger, "intruder", "clientAuth");
    try (ServiceProcess service = ServiceProcess.start(
        "--tls-cert-file", pem(server), "--tls-key-file", key(server), "--tls-client-ca-file", pem(ca))) {
      ChannelCredentials withCert = tls(ca, caller);
      ManagedChannel channel = channel(service.address, withCert);
      service.waitForServing(channel);

      SessionClient client = new SessionClient(channel);
      CreatedSession created = client.createSession("java-tls-" + System.nanoTime(), null);
      String token = created.session().accessToken();
      assertEquals(Status.OK, client.getSession(token).status());

      SessionClient plaintext = new SessionClient(channel(service.address, InsecureChannelCredentials.create()));
      SessionClient noCertificate = new SessionClient(channel(service.address, tls(ca, null)));
      SessionClient otherCaCertificate = new SessionClient(channel(service.address, tls(ca, intruder)));
      SessionClient trustsAnotherCa = new SessionClient(channel(service.address, tls(stranger, caller)));
      assertEquals("plaintext to a TLS port", Code.UNAVAILABLE, codeOf(() -> plaintext.getSession(token)));
      assertEquals("no client certificate", Code.UNAVAILABLE, codeOf(() -> noCertificate.getSession(token)));
      assertEquals("a client certificate from another CA", Code.UNAVAILABLE,
          codeOf(() -> otherCaCertificate.getSession(token)));
      assertEquals("a server certificate from an untrusted CA", Code.UNAVAILABLE,
          codeOf(() -> trustsAnotherCa.getSession(token)));
    }
  }

  /** Trust {@code ca}; present {@code identity} unless null. */
  private static ChannelCredentials tls(Path ca, Path identity) throws IOException {
    TlsChannelCredentials.Builder builder = TlsChannelCredentials.newBuilder().trustManager(new File(pem(ca)));
    if (identity != null) {
      builder.keyManager(new File(pem(identity)), new File(key(identity)));
    }
    return builder.build();
  }

  /** A certificate's files are {@code <base>.pem} and {@code <base>.key}. */
  private static String pem(Path base) {
    return base + ".pem";
  }

  private static String key(Path base) {
    return base + ".key";
  }

  /** A self-signed CA in the test directory. */
  private Path authority(String name, String commonName) throws Exception {
    Path base = dir.resolve(name);
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key(base), "-out", pem(base), "-days", "1", "-subj", "/CN=" + commonName,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign");
    return base;
  }

  /** A certificate for 127.0.0.1 signed by {@code ca}, for serverAuth or clientAuth. */
  private Path issue(String name, Path ca, String commonName, String usage) throws Exception {
    Path base = dir.resolve(name);
    Path extensions = Files.writeString(dir.resolve(name + ".ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=" + usage + "\n");
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key(base), "-out", base + ".csr", "-subj", "/CN=" + commonName);
    openssl("x509", "-req", "-in", base + ".csr", "-CA", pem(ca), "-CAkey", key(ca), "-CAcreateserial",
        "-out", pem(base), "-days", "1", "-extfile", extensions.toString());
    return base;
  }

  private static void openssl(String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of("openssl"));
    command.addAll(List.of(args));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (process.waitFor() != 0) {
      throw new AssertionError(String.join(" ", command) + " failed:\n" + output);
    }
  }
}
