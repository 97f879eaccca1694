package sessionservice.client;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;
import static sessionservice.client.ClaimValidators.hasValue;
import static sessionservice.client.ClaimValidators.includes;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;
import sessionservice.client.Results.CreatedSession;
import sessionservice.client.Results.GetSessionResult;
import sessionservice.session.v1.ClaimValidator;
import sessionservice.session.v1.GetSessionRequest;

/**
 * Claims the service fetches: a service of its own with the claims module of
 * clients/testdata/client_test_claims.py (plan comes from user_context, roles from a counter).
 */
public class FetchedClaimsTest {
  private static ServiceProcess service;
  private static SessionClient client;

  @BeforeClass
  public static void startService() throws Exception {
    service = ServiceProcess.startServing("--claims-module", "client_test_claims");
    client = new SessionClient(service.channel());
  }

  @AfterClass
  public static void stopService() {
    if (service != null) {
      service.close();
    }
  }

  private static CreatedSession newSession() {
    return client.createSession("java-claims-" + System.nanoTime(), null);
  }

  private static JsonObject payloadOf(String token) {
    String json = new String(Base64.getUrlDecoder().decode(token.split("\\.")[1]), StandardCharsets.UTF_8);
    return JsonParser.parseString(json).getAsJsonObject();
  }

  @Test
  public void getSessionFetchesAMissingValueIntoANewAccessToken() {
    CreatedSession created = newSession();
    GetSessionRequest request = GetSessionRequest.newBuilder()
        .setAccessToken(created.session().accessToken()).addClaimValidators(includes("roles", "admin")).build();
    GetSessionResult fetched = client.getSession(request);
    assertEquals(Status.OK, fetched.status());
    String newToken = fetched.newAccessToken().orElseThrow().token();
    assertEquals(newToken, fetched.session().orElseThrow().accessToken());
    JsonObject roles = payloadOf(newToken).getAsJsonObject("roles");
    assertEquals("admin", roles.getAsJsonArray("v").get(0).getAsString());

    GetSessionResult again = client.getSession(request.toBuilder().setAccessToken(newToken).build());
    assertEquals(Status.OK, again.status());
    assertTrue("the new token carries the value: nothing is fetched", again.newAccessToken().isEmpty());
  }

  @Test
  public void fetchAndSetClaimStoresWhatTheUserContextLeadsTo() {
    String handle = newSession().session().sessionHandle();
    assertEquals(Status.OK, client.withUserContext(Map.of("plan", "pro")).fetchAndSetClaim(handle, "plan").status());
    Object plan = client.getSessionInformation(handle).info().orElseThrow().customClaimsInAccessTokenPayload().get("plan");
    assertEquals("pro", ((Map<?, ?>) plan).get("v"));
    assertEquals(Status.SESSION_DOES_NOT_EXIST, client.fetchAndSetClaim("no-such-handle", "plan").status());
    StatusRuntimeException undefined = assertThrows(StatusRuntimeException.class,
        () -> client.fetchAndSetClaim(handle, "undefined-claim"));
    assertEquals(Code.INVALID_ARGUMENT, undefined.getStatus().getCode());
  }

  @Test
  public void validateByHandleFetchesInPayloadOnlyChecks() {
    CreatedSession created = newSession();
    List<ClaimValidator> team = List.of(hasValue("plan", "team"));
    SessionClient withTeam = client.withUserContext(Map.of("plan", "team"));
    assertEquals(Status.OK,
        withTeam.validateClaimsForSessionHandle(created.session().sessionHandle(), team, false).status());

    Map<String, Object> oldPayload = created.session().accessTokenPayload();
    var checked = withTeam.validateClaimsInJwtPayload(created.session().userId(), oldPayload, team, false);
    assertEquals("the old payload has no plan, and nothing is fetched", Status.INVALID_CLAIMS, checked.status());
    assertEquals("plan", checked.invalidClaims().get(0).id());
    assertEquals("value does not exist", checked.invalidClaims().get(0).reason().orElseThrow().get("message"));
  }
}
