package sessionservice.client;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;
import static sessionservice.client.ClaimValidators.excludes;
import static sessionservice.client.ClaimValidators.excludesAll;
import static sessionservice.client.ClaimValidators.hasValue;
import static sessionservice.client.ClaimValidators.includes;
import static sessionservice.client.ClaimValidators.includesAll;
import static sessionservice.client.ClaimValidators.maxAge;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.RSAPublicKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;
import sessionservice.client.Results.ClaimValidationError;
import sessionservice.client.Results.CreatedSession;
import sessionservice.client.Results.GetSessionResult;
import sessionservice.client.Results.JsonWebKey;
import sessionservice.client.Results.JwksResult;
import sessionservice.client.Results.OpenIdConfiguration;
import sessionservice.client.Results.RefreshResult;
import sessionservice.client.Results.SessionHandlesResult;
import sessionservice.client.Results.SessionInformation;
import sessionservice.session.v1.CreateJWTRequest;
import sessionservice.session.v1.CreateSessionRequest;
import sessionservice.session.v1.GetSessionRequest;
import sessionservice.session.v1.SessionStatus;

/**
 * The standard flow against a live session-service: create, get (cached and check_database),
 * refresh, promotion, theft, revoke, session data, claims, CreateJWT/JWKS, health, errors.
 */
public class SessionClientTest {
  private static ServiceProcess service;
  private static SessionClient client;

  @BeforeClass
  public static void startService() throws Exception {
    service = ServiceProcess.startServing();
    client = new SessionClient(service.channel());
  }

  @AfterClass
  public static void stopService() {
    if (service != null) {
      service.close();
    }
  }

  private static String userId(String test) {
    return "java-" + test + "-" + System.nanoTime();
  }

  /** CreateSession for {@code user}, which answers OK. */
  private static CreatedSession create(String user, Map<String, ?> accessTokenPayload) {
    CreatedSession created = client.createSession(user, accessTokenPayload);
    assertEquals(Status.OK, created.status());
    return created;
  }

  private static GetSessionResult get(String token, boolean checkDatabase) {
    return client.getSession(GetSessionRequest.newBuilder().setAccessToken(token).setCheckDatabase(checkDatabase).build());
  }

  @Test
  public void createThenGetCachedAndCheckDatabase() {
    String user = userId("create");
    Map<String, Object> payload = Map.of("role", "admin", "level", 3.0, "flags", List.of("a", true), "nested", Map.of("ok", true));
    CreatedSession created = client.createSession(CreateSessionRequest.newBuilder()
        .setUserId(user)
        .setAccessTokenPayload(Json.toStruct(payload))
        .setSessionDataInDatabase(Json.toStruct(Map.of("secret", "kept in the database")))
        .build());
    assertEquals(Status.OK, created.status());
    assertEquals(user, created.session().userId());
    payload.forEach((key, value) -> assertEquals(key, value, created.session().accessTokenPayload().get(key)));
    assertEquals(created.accessToken().token(), created.session().accessToken());
    assertFalse(created.refreshToken().token().isEmpty());
    assertTrue(created.accessToken().expiry().isAfter(Instant.now()));
    assertFalse(created.refreshToken().expiry().isBefore(created.accessToken().expiry()));
    assertTrue("no anti-CSRF token without VIA_TOKEN", created.antiCsrfToken().isEmpty());
    String printed = created.toString();
    assertFalse("toString must not show tokens",
        printed.contains(created.accessToken().token()) || printed.contains(created.refreshToken().token()));

    for (boolean checkDatabase : new boolean[] {false, false, true}) { // twice from the cache
      GetSessionResult result = get(created.session().accessToken(), checkDatabase);
      assertEquals(Status.OK, result.status());
      assertEquals(created.session().sessionHandle(), result.session().orElseThrow().sessionHandle());
      assertEquals(user, result.session().orElseThrow().accessTokenPayload().get("sub"));
      assertTrue("no new token for a fresh one", result.newAccessToken().isEmpty());
    }
  }

  @Test
  public void getSessionWithoutAUsableToken() {
    assertEquals(Status.UNAUTHORISED, client.getSession("").status());
    assertEquals(Status.NO_SESSION,
        client.getSession(GetSessionRequest.newBuilder().setSessionRequired(false).build()).status());
    GetSessionResult garbage = client.getSession("not-a-token");
    assertEquals(Status.UNAUTHORISED, garbage.status());
    assertFalse(garbage.message().isEmpty());
    assertTrue(garbage.session().isEmpty());
  }

  @Test
  public void aRevokedSessionIsRefusedWithAndWithoutCheckDatabase() {
    CreatedSession created = create(userId("revoke"), null);
    String token = created.session().accessToken();
    assertEquals(Status.OK, get(token, false).status());
    assertEquals(Status.OK, client.revokeSession(created.session().sessionHandle()).status());
    // The service follows its core's revocation feed, and the process that revoked the session
    // refuses it at once, verifying locally (the SDK would accept the token until it expires).
    assertEquals("local verification after revoking", Status.UNAUTHORISED, get(token, false).status());
    assertEquals("check_database after revoking", Status.UNAUTHORISED, get(token, true).status());
    assertEquals(Status.SESSION_DOES_NOT_EXIST, client.revokeSession(created.session().sessionHandle()).status());
  }

  @Test
  public void refreshPromotionAndTheft() {
    String user = userId("refresh");
    CreatedSession created = create(user, null);
    RefreshResult refreshed = client.refreshSession(created.refreshToken().token());
    assertEquals(Status.OK, refreshed.status());
    String newRefresh = refreshed.refreshToken().orElseThrow().token();
    String newAccess = refreshed.accessToken().orElseThrow().token();
    assertNotEquals(created.refreshToken().token(), newRefresh);
    assertEquals(created.session().sessionHandle(), refreshed.session().orElseThrow().sessionHandle());
    assertTrue(refreshed.tokenTheft().isEmpty());

    GetSessionResult promoted = client.getSession(newAccess);
    assertEquals(Status.OK, promoted.status());
    assertTrue("the first use after a refresh issues a new access token", promoted.newAccessToken().isPresent());
    assertEquals(promoted.newAccessToken().orElseThrow().token(), promoted.session().orElseThrow().accessToken());
    assertNotEquals(newAccess, promoted.session().orElseThrow().accessToken());

    RefreshResult theft = client.refreshSession(created.refreshToken().token());
    assertEquals(Status.TOKEN_THEFT_DETECTED, theft.status());
    assertEquals(created.session().sessionHandle(), theft.tokenTheft().orElseThrow().sessionHandle());
    assertEquals(user, theft.tokenTheft().orElseThrow().userId());
    assertTrue(theft.accessToken().isEmpty());
    // The service revoked the session, as the SDK's default theft handler does.
    assertEquals(Status.UNAUTHORISED, get(promoted.session().orElseThrow().accessToken(), true).status());
    assertEquals(Status.SESSION_DOES_NOT_EXIST,
        client.revokeSession(theft.tokenTheft().orElseThrow().sessionHandle()).status());
    assertEquals(Status.UNAUTHORISED, client.refreshSession(newRefresh).status());
    assertEquals(Status.UNAUTHORISED, client.refreshSession("").status());
  }

  @Test
  public void revokeForUserAndMultiple() {
    String user = userId("many");
    List<String> handles = List.of(
        create(user, null).session().sessionHandle(),
        create(user, null).session().sessionHandle(),
        create(user, null).session().sessionHandle());
    SessionHandlesResult listed = client.getAllSessionHandlesForUser(user);
    assertEquals(Status.OK, listed.status());
    assertEquals(Set.copyOf(handles), new HashSet<>(listed.sessionHandles()));
    SessionHandlesResult revoked = client.revokeMultipleSessions(List.of(handles.get(0), "no-such-handle"));
    assertEquals(Status.OK, revoked.status());
    assertEquals(handles.subList(0, 1), revoked.sessionHandles());
    SessionHandlesResult revokedAll = client.revokeAllSessionsForUser(user);
    assertEquals(Status.OK, revokedAll.status());
    assertEquals(Set.copyOf(handles.subList(1, 3)), new HashSet<>(revokedAll.sessionHandles()));

    // Nothing left to list or revoke is still OK, with no handles.
    SessionHandlesResult none = new SessionHandlesResult(Status.OK, List.of());
    assertEquals(none, client.getAllSessionHandlesForUser(user));
    assertEquals(none, client.revokeAllSessionsForUser(user));
    assertEquals(none, client.revokeMultipleSessions(handles));
  }

  @Test
  public void sessionDataAndPayload() {
    String user = userId("data");
    CreatedSession created = client.createSession(CreateSessionRequest.newBuilder()
        .setUserId(user)
        .setAccessTokenPayload(Json.toStruct(Map.of("role", "admin")))
        .setSessionDataInDatabase(Json.toStruct(Map.of("cart", 2)))
        .build());
    String handle = created.session().sessionHandle();
    SessionInformation info = client.getSessionInformation(handle).info().orElseThrow();
    assertEquals(user, info.userId());
    assertEquals(2.0, info.sessionDataInDatabase().get("cart"));
    assertEquals("admin", info.customClaimsInAccessTokenPayload().get("role"));
    assertFalse(info.timeCreated().isAfter(Instant.now()));

    assertEquals(Status.OK, client.updateSessionDataInDatabase(handle, Map.of("cart", 5)).status());
    Map<String, Object> update = new java.util.HashMap<>();
    update.put("plan", "pro");
    update.put("role", null); // removes the key
    assertEquals(Status.OK, client.mergeIntoAccessTokenPayload(handle, update).status());
    info = client.getSessionInformation(handle).info().orElseThrow();
    assertEquals(5.0, info.sessionDataInDatabase().get("cart"));
    assertEquals("pro", info.customClaimsInAccessTokenPayload().get("plan"));
    assertFalse(info.customClaimsInAccessTokenPayload().containsKey("role"));

    var regenerated = client.regenerateAccessToken(created.session().accessToken(), Map.of("plan", "team"));
    assertEquals(Status.OK, regenerated.status());
    assertEquals(handle, regenerated.sessionHandle());
    assertEquals("team", regenerated.userDataInJwt().get("plan"));
    GetSessionResult verified = client.getSession(regenerated.accessToken().orElseThrow().token());
    assertEquals("team", verified.session().orElseThrow().accessTokenPayload().get("plan"));

    var unknown = client.getSessionInformation("no-such-handle");
    assertEquals(Status.SESSION_DOES_NOT_EXIST, unknown.status());
    assertTrue(unknown.info().isEmpty());
    assertEquals(Status.SESSION_DOES_NOT_EXIST, client.updateSessionDataInDatabase("no-such-handle", null).status());
  }

  @Test
  public void claims() {
    double now = System.currentTimeMillis();
    CreatedSession created = create(userId("claims"), Map.of(
        "st-role", Map.of("v", List.of("admin", "editor"), "t", now),
        "st-email", Map.of("v", true, "t", now - 10 * 60 * 1000))); // set ten minutes ago
    String token = created.session().accessToken();
    String handle = created.session().sessionHandle();

    GetSessionResult ok = client.getSession(GetSessionRequest.newBuilder().setAccessToken(token)
        .addClaimValidators(includes("st-role", "admin"))
        .addClaimValidators(includesAll("st-role", List.of("admin", "editor")))
        .addClaimValidators(excludesAll("st-role", List.of("root")))
        .addClaimValidators(hasValue("st-email", true))
        .build());
    assertEquals(Status.OK, ok.status());

    GetSessionResult failed = client.getSession(GetSessionRequest.newBuilder().setAccessToken(token)
        .addClaimValidators(includes("st-role", "root").toBuilder().setId("needs-root"))
        .addClaimValidators(excludes("st-role", "editor"))
        .addClaimValidators(maxAge(hasValue("st-email", true), 60))
        .build());
    assertEquals(Status.INVALID_CLAIMS, failed.status());
    assertEquals(handle, failed.session().orElseThrow().sessionHandle());
    assertEquals(List.of("needs-root", "st-role", "st-email"),
        failed.invalidClaims().stream().map(ClaimValidationError::id).toList());
    assertEquals("wrong value", failed.invalidClaims().get(0).reason().orElseThrow().get("message"));
    assertEquals("expired", failed.invalidClaims().get(2).reason().orElseThrow().get("message"));

    assertEquals(Status.OK, client.setClaimValue(handle, "st-plan", "pro").status());
    assertEquals("pro", client.getClaimValue(handle, "st-plan").value().orElseThrow());
    assertEquals(Status.OK,
        client.validateClaimsForSessionHandle(handle, List.of(hasValue("st-plan", "pro")), false).status());
    var invalid = client.validateClaimsForSessionHandle(handle, List.of(hasValue("st-plan", "free")), true);
    assertEquals(Status.INVALID_CLAIMS, invalid.status());
    assertEquals("pro", invalid.invalidClaims().get(0).reason().orElseThrow().get("actualValue"));

    assertEquals(Status.OK, client.removeClaim(handle, "st-plan").status());
    var gone = client.getClaimValue(handle, "st-plan");
    assertEquals(Status.OK, gone.status());
    assertTrue(gone.value().isEmpty());
    assertEquals(Status.SESSION_DOES_NOT_EXIST, client.getClaimValue("no-such-handle", "st-plan").status());
  }

  private static PublicKey publicKey(List<JsonWebKey> keys, String kid) throws Exception {
    JsonWebKey key = keys.stream().filter(k -> k.kid().equals(kid)).findFirst()
        .orElseThrow(() -> new AssertionError("kid " + kid + " is not in the JWKS"));
    assertEquals(List.of("RSA", "RS256", "sig"), List.of(key.kty(), key.alg(), key.use()));
    Base64.Decoder base64 = Base64.getUrlDecoder();
    return KeyFactory.getInstance("RSA").generatePublic(new RSAPublicKeySpec(
        new BigInteger(1, base64.decode(key.n())), new BigInteger(1, base64.decode(key.e()))));
  }

  private static boolean signatureValid(PublicKey key, String header, String payload, String signature) throws Exception {
    Signature verifier = Signature.getInstance("SHA256withRSA");
    verifier.initVerify(key);
    verifier.update((header + "." + payload).getBytes(StandardCharsets.US_ASCII));
    return verifier.verify(Base64.getUrlDecoder().decode(signature));
  }

  private static JsonObject part(String base64url) {
    return JsonParser.parseString(new String(Base64.getUrlDecoder().decode(base64url), StandardCharsets.UTF_8)).getAsJsonObject();
  }

  @Test
  public void createJwtVerifiesAgainstJwks() throws Exception {
    JwksResult jwks = client.getJwks();
    assertEquals(Status.OK, jwks.status());
    List<JsonWebKey> keys = jwks.keys();
    OpenIdConfiguration discovery = client.getOpenIdDiscoveryConfiguration();
    assertEquals(Status.OK, discovery.status());
    assertTrue(discovery.jwksUri(), discovery.jwksUri().endsWith("/jwt/jwks.json"));

    var created = client.createJwt(Map.of("sub", "java-service", "scope", List.of("read")), Duration.ofHours(1));
    assertEquals(Status.OK, created.status());
    assertFalse("toString must not show the JWT", created.toString().contains(created.jwt()));
    String[] parts = created.jwt().split("\\.");
    JsonObject header = part(parts[0]);
    JsonObject claims = part(parts[1]);
    assertEquals("RS256", header.get("alg").getAsString());
    String kid = header.get("kid").getAsString();
    assertTrue(kid, kid.startsWith("s-"));
    assertTrue("the signature verifies with the published key", signatureValid(publicKey(keys, kid), parts[0], parts[1], parts[2]));
    assertEquals("java-service", claims.get("sub").getAsString());
    assertEquals(discovery.issuer(), claims.get("iss").getAsString());
    assertEquals(3600, claims.get("exp").getAsLong() - claims.get("iat").getAsLong());
    String forged = Base64.getUrlEncoder().withoutPadding().encodeToString("{\"sub\":\"someone-else\"}".getBytes(StandardCharsets.UTF_8));
    assertFalse("a changed payload does not verify", signatureValid(publicKey(keys, kid), parts[0], forged, parts[2]));

    var dynamic = client.createJwt(CreateJWTRequest.newBuilder()
        .setPayload(Json.toStruct(Map.of("sub", "java-service"))).setUseStaticSigningKey(false).build());
    assertEquals(Status.OK, dynamic.status());
    String[] dynamicParts = dynamic.jwt().split("\\.");
    String dynamicKid = part(dynamicParts[0]).get("kid").getAsString();
    assertTrue(dynamicKid, dynamicKid.startsWith("d-"));
    assertTrue(signatureValid(publicKey(keys, dynamicKid), dynamicParts[0], dynamicParts[1], dynamicParts[2]));
  }

  @Test
  public void healthCheckAndWatch() {
    assertEquals(ServingStatus.SERVING, client.health());
    client.waitForServing(Duration.ofSeconds(5));
    var health = HealthGrpc.newBlockingStub(service.channel()).withDeadlineAfter(10, SECONDS);
    assertEquals(ServingStatus.SERVING,
        health.check(HealthCheckRequest.newBuilder().setService("session.v1.SessionService").build()).getStatus());
    StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class,
        () -> health.check(HealthCheckRequest.newBuilder().setService("no.such.Service").build()));
    assertEquals(Code.NOT_FOUND, unknown.getStatus().getCode());
    Iterator<HealthCheckResponse> watch = health.watch(HealthCheckRequest.getDefaultInstance());
    assertEquals(ServingStatus.SERVING, watch.next().getStatus());
  }

  private static Code codeOf(Runnable call) {
    return assertThrows(StatusRuntimeException.class, call::run).getStatus().getCode();
  }

  @Test
  public void failuresAreGrpcCodes() {
    assertEquals(Code.INVALID_ARGUMENT, codeOf(() -> client.createSession("", null)));
    assertEquals(Code.INVALID_ARGUMENT, codeOf(() -> client.createSession(userId("bad"), Map.of("sub", "someone-else"))));
    assertEquals(Code.INVALID_ARGUMENT, codeOf(() -> client.createJwt(Map.of(), Duration.ofSeconds(-1))));
    assertEquals(Code.INVALID_ARGUMENT, codeOf(() -> client.revokeSession("")));
    assertEquals(Code.INVALID_ARGUMENT, codeOf(() -> client.getAllSessionHandlesForUser("")));
    assertEquals(Code.INVALID_ARGUMENT, codeOf(() -> client.revokeAllSessionsForUser("")));
    assertEquals(Code.DEADLINE_EXCEEDED,
        codeOf(() -> client.withTimeout(Duration.ofNanos(1)).createSession(userId("late"), null)));
    IllegalArgumentException notJson = assertThrows(IllegalArgumentException.class,
        () -> client.createSession(userId("bad"), Map.of("when", Instant.now())));
    assertTrue(notJson.getMessage(), notJson.getMessage().startsWith("not a JSON value"));
  }

  /** Every status in the contract maps to a constant here, UNSPECIFIED and new values to UNKNOWN. */
  @Test
  public void everyContractStatusIsKnown() {
    for (SessionStatus status : SessionStatus.values()) {
      if (status == SessionStatus.UNRECOGNIZED || status == SessionStatus.SESSION_STATUS_UNSPECIFIED) {
        assertEquals(Status.UNKNOWN, Status.of(status));
      } else {
        assertEquals(status.name(), "SESSION_STATUS_" + Status.of(status).name());
      }
    }
    assertEquals(SessionStatus.values().length - 1, Status.values().length); // UNRECOGNIZED has none
  }

  /**
   * CreateSession, the handle lists, GetJWKS and the discovery document have no outcome but OK: a
   * service older than their status field leaves it unset, which reads as OK; any other value is
   * passed on as it is, for the caller to treat as the failure it is.
   */
  @Test
  public void singleOutcomeStatus() {
    assertEquals(Status.OK, Status.ofSingleOutcome(SessionStatus.SESSION_STATUS_UNSPECIFIED));
    assertEquals(Status.OK, Status.ofSingleOutcome(SessionStatus.SESSION_STATUS_OK));
    assertEquals(Status.UNAUTHORISED, Status.ofSingleOutcome(SessionStatus.SESSION_STATUS_UNAUTHORISED));
    assertEquals(Status.UNKNOWN, Status.ofSingleOutcome(SessionStatus.UNRECOGNIZED));
  }
}
