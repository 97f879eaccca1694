package sessionservice.client;

import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static java.util.concurrent.TimeUnit.NANOSECONDS;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import com.google.protobuf.Struct;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.MetadataUtils;
import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import sessionservice.client.Results.ClaimValidationError;
import sessionservice.client.Results.ClaimValueResult;
import sessionservice.client.Results.ClaimsValidationResult;
import sessionservice.client.Results.CreateJwtResult;
import sessionservice.client.Results.CreatedSession;
import sessionservice.client.Results.GetSessionResult;
import sessionservice.client.Results.JsonWebKey;
import sessionservice.client.Results.JwksResult;
import sessionservice.client.Results.OpenIdConfiguration;
import sessionservice.client.Results.RefreshResult;
import sessionservice.client.Results.RegenerateResult;
import sessionservice.client.Results.Session;
import sessionservice.client.Results.SessionInformation;
import sessionservice.client.Results.SessionHandlesResult;
import sessionservice.client.Results.SessionInformationResult;
import sessionservice.client.Results.StatusResult;
import sessionservice.client.Results.TokenInfo;
import sessionservice.client.Results.TokenTheft;
import sessionservice.session.v1.ClaimValidator;
import sessionservice.session.v1.CreateJWTRequest;
import sessionservice.session.v1.CreateSessionRequest;
import sessionservice.session.v1.FetchAndSetClaimRequest;
import sessionservice.session.v1.GetAllSessionHandlesForUserRequest;
import sessionservice.session.v1.GetClaimValueRequest;
import sessionservice.session.v1.GetJWKSRequest;
import sessionservice.session.v1.GetOpenIdDiscoveryConfigurationRequest;
import sessionservice.session.v1.GetSessionInformationRequest;
import sessionservice.session.v1.GetSessionInformationResponse;
import sessionservice.session.v1.GetSessionRequest;
import sessionservice.session.v1.GetSessionResponse;
import sessionservice.session.v1.MergeIntoAccessTokenPayloadRequest;
import sessionservice.session.v1.RefreshSessionRequest;
import sessionservice.session.v1.RefreshSessionResponse;
import sessionservice.session.v1.RegenerateAccessTokenRequest;
import sessionservice.session.v1.RegenerateAccessTokenResponse;
import sessionservice.session.v1.RemoveClaimRequest;
import sessionservice.session.v1.RevokeAllSessionsForUserRequest;
import sessionservice.session.v1.RevokeMultipleSessionsRequest;
import sessionservice.session.v1.RevokeSessionRequest;
import sessionservice.session.v1.SessionServiceGrpc;
import sessionservice.session.v1.SessionServiceGrpc.SessionServiceBlockingStub;
import sessionservice.session.v1.SetClaimValueRequest;
import sessionservice.session.v1.UpdateSessionDataInDatabaseRequest;
import sessionservice.session.v1.ValidateClaimsForSessionHandleRequest;
import sessionservice.session.v1.ValidateClaimsInJwtPayloadRequest;

/**
 * A thin typed client for {@code session.v1.SessionService} over a channel the caller owns (and
 * shuts down). Immutable and thread-safe.
 *
 * <p>Outcomes are data, failures are exceptions: every SessionService call returns a result with
 * a {@link Status}; CreateSession, the handle lists, GetJWKS and the discovery document have no
 * outcome but OK. A call that could not be answered throws grpc-java's {@link
 * StatusRuntimeException} unchanged ({@code e.getStatus().getCode()} is INVALID_ARGUMENT,
 * UNAVAILABLE, PERMISSION_DENIED, ...). A value that is not JSON throws {@link
 * IllegalArgumentException} before anything is sent.
 *
 * <p>Each call with a common shape has a short form; the long forms take the generated request,
 * so every field of the contract is reachable.
 */
public final class SessionClient {
  /** The deadline of every call unless {@link #withTimeout} changes it. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

  /** The metadata key the service reads caller API keys from. */
  public static final Metadata.Key<String> API_KEY =
      Metadata.Key.of("x-api-key", Metadata.ASCII_STRING_MARSHALLER);

  private final Channel channel;
  private final SessionServiceBlockingStub stub;
  private final Duration timeout;

  public SessionClient(Channel channel) {
    this(channel, SessionServiceGrpc.newBlockingStub(channel), DEFAULT_TIMEOUT);
  }

  private SessionClient(Channel channel, SessionServiceBlockingStub stub, Duration timeout) {
    this.channel = channel;
    this.stub = stub;
    this.timeout = timeout;
  }

  /** A client that sends {@code key} as x-api-key on SessionService calls (health stays open). */
  public SessionClient withApiKey(String key) {
    Metadata headers = new Metadata();
    headers.put(API_KEY, key);
    return new SessionClient(
        channel, stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers)), timeout);
  }

  /**
   * A client whose requests carry {@code userContext} as the SDK's user_context (unless a request
   * sets its own), which the service hands to its override hooks and to its claims' fetch_value.
   */
  public SessionClient withUserContext(Map<String, ?> userContext) {
    return new SessionClient(channel, stub.withInterceptors(new UserContext(Json.toStruct(userContext))), timeout);
  }

  /** Sets user_context on every request that has the field and leaves it unset. */
  private static final class UserContext implements ClientInterceptor {
    private final Struct userContext;

    UserContext(Struct userContext) {
      this.userContext = userContext;
    }

    @Override
    public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
      return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
        @Override
        public void sendMessage(Q request) {
          super.sendMessage(withUserContext(request));
        }
      };
    }

    @SuppressWarnings("unchecked") // toBuilder().build() returns the request's own type
    private <Q> Q withUserContext(Q request) {
      if (request instanceof Message message) {
        FieldDescriptor field = message.getDescriptorForType().findFieldByName("user_context");
        if (field != null && !message.hasField(field)) {
          return (Q) message.toBuilder().setField(field, userContext).build();
        }
      }
      return request;
    }
  }

  /** A client whose calls get this deadline; the service passes what is left on to the core. */
  public SessionClient withTimeout(Duration timeout) {
    return new SessionClient(channel, stub, timeout);
  }

  private SessionServiceBlockingStub call() {
    return stub.withDeadlineAfter(timeout.toNanos(), NANOSECONDS);
  }

  // -- sessions ---------------------------------------------------------------------------------

  /** CreateSession for {@code userId} with custom claims (null for none). */
  public CreatedSession createSession(String userId, Map<String, ?> accessTokenPayload) {
    CreateSessionRequest.Builder request = CreateSessionRequest.newBuilder().setUserId(userId);
    if (accessTokenPayload != null) {
      request.setAccessTokenPayload(Json.toStruct(accessTokenPayload));
    }
    return createSession(request.build());
  }

  /** CreateSession (SDK create_new_session_without_request_response). */
  public CreatedSession createSession(CreateSessionRequest request) {
    var response = call().createSession(request);
    return new CreatedSession(
        Status.ofSingleOutcome(response.getStatus()),
        session(response.getSession()),
        tokenInfo(response.getAccessToken()),
        tokenInfo(response.getRefreshToken()),
        response.hasAntiCsrfToken() ? Optional.of(response.getAntiCsrfToken()) : Optional.empty());
  }

  /** GetSession with the SDK's defaults. */
  public GetSessionResult getSession(String accessToken) {
    return getSession(GetSessionRequest.newBuilder().setAccessToken(accessToken).build());
  }

  /**
   * GetSession (SDK get_session_without_request_response): check_database, claim validators
   * ({@link ClaimValidators}), anti-CSRF and session_required are fields of the request.
   */
  public GetSessionResult getSession(GetSessionRequest request) {
    GetSessionResponse response = call().getSession(request);
    return new GetSessionResult(
        Status.of(response.getStatus()),
        response.getMessage(),
        response.hasSession() ? Optional.of(session(response.getSession())) : Optional.empty(),
        response.hasNewAccessToken() ? Optional.of(tokenInfo(response.getNewAccessToken())) : Optional.empty(),
        claimErrors(response.getInvalidClaimsList()));
  }

  /** RefreshSession without anti-CSRF. */
  public RefreshResult refreshSession(String refreshToken) {
    return refreshSession(RefreshSessionRequest.newBuilder().setRefreshToken(refreshToken).build());
  }

  /** RefreshSession (SDK refresh_session_without_request_response): rotation and theft detection. */
  public RefreshResult refreshSession(RefreshSessionRequest request) {
    RefreshSessionResponse response = call().refreshSession(request);
    return new RefreshResult(
        Status.of(response.getStatus()),
        response.getMessage(),
        response.hasSession() ? Optional.of(session(response.getSession())) : Optional.empty(),
        response.hasAccessToken() ? Optional.of(tokenInfo(response.getAccessToken())) : Optional.empty(),
        response.hasRefreshToken() ? Optional.of(tokenInfo(response.getRefreshToken())) : Optional.empty(),
        response.hasAntiCsrfToken() ? Optional.of(response.getAntiCsrfToken()) : Optional.empty(),
        response.hasTokenTheft()
            ? Optional.of(new TokenTheft(response.getTokenTheft().getSessionHandle(), response.getTokenTheft().getUserId()))
            : Optional.empty());
  }

  /** RevokeSession: OK, or SESSION_DOES_NOT_EXIST when there was nothing to revoke. */
  public StatusResult revokeSession(String sessionHandle) {
    var response = call().revokeSession(RevokeSessionRequest.newBuilder().setSessionHandle(sessionHandle).build());
    return new StatusResult(Status.of(response.getStatus()), response.getMessage());
  }

  /** Revokes every live session of {@code userId}; the result lists their handles. */
  public SessionHandlesResult revokeAllSessionsForUser(String userId) {
    var response = call()
        .revokeAllSessionsForUser(RevokeAllSessionsForUserRequest.newBuilder().setUserId(userId).build());
    return new SessionHandlesResult(Status.ofSingleOutcome(response.getStatus()), response.getSessionHandlesList());
  }

  /** Revokes the given sessions; the result lists the handles actually revoked. */
  public SessionHandlesResult revokeMultipleSessions(List<String> sessionHandles) {
    var response = call()
        .revokeMultipleSessions(RevokeMultipleSessionsRequest.newBuilder().addAllSessionHandles(sessionHandles).build());
    return new SessionHandlesResult(Status.ofSingleOutcome(response.getStatus()), response.getSessionHandlesList());
  }

  /** The handles of {@code userId}'s live sessions. */
  public SessionHandlesResult getAllSessionHandlesForUser(String userId) {
    var response = call()
        .getAllSessionHandlesForUser(GetAllSessionHandlesForUserRequest.newBuilder().setUserId(userId).build());
    return new SessionHandlesResult(Status.ofSingleOutcome(response.getStatus()), response.getSessionHandlesList());
  }

  // -- session data -----------------------------------------------------------------------------

  /** What the core stores about a session. */
  public SessionInformationResult getSessionInformation(String sessionHandle) {
    GetSessionInformationResponse response =
        call().getSessionInformation(GetSessionInformationRequest.newBuilder().setSessionHandle(sessionHandle).build());
    Optional<SessionInformation> info = Optional.empty();
    if (response.hasSessionInformation()) {
      var raw = response.getSessionInformation();
      info = Optional.of(new SessionInformation(
          raw.getSessionHandle(),
          raw.getUserId(),
          Json.toMap(raw.getSessionDataInDatabase()),
          Instant.ofEpochMilli(raw.getExpiry()),
          Json.toMap(raw.getCustomClaimsInAccessTokenPayload()),
          Instant.ofEpochMilli(raw.getTimeCreated())));
    }
    return new SessionInformationResult(Status.of(response.getStatus()), response.getMessage(), info);
  }

  /** Replaces the session's database data. */
  public StatusResult updateSessionDataInDatabase(String sessionHandle, Map<String, ?> data) {
    var request = UpdateSessionDataInDatabaseRequest.newBuilder().setSessionHandle(sessionHandle);
    if (data != null) {
      request.setNewSessionData(Json.toStruct(data));
    }
    var response = call().updateSessionDataInDatabase(request.build());
    return new StatusResult(Status.of(response.getStatus()), response.getMessage());
  }

  /** Shallow-merges {@code update} into the stored payload (a null value removes its key). */
  public StatusResult mergeIntoAccessTokenPayload(String sessionHandle, Map<String, ?> update) {
    var request = MergeIntoAccessTokenPayloadRequest.newBuilder().setSessionHandle(sessionHandle);
    if (update != null) {
      request.setAccessTokenPayloadUpdate(Json.toStruct(update));
    }
    var response = call().mergeIntoAccessTokenPayload(request.build());
    return new StatusResult(Status.of(response.getStatus()), response.getMessage());
  }

  /** Re-issues an access token with {@code newPayload} (null keeps the stored one). */
  public RegenerateResult regenerateAccessToken(String accessToken, Map<String, ?> newPayload) {
    var request = RegenerateAccessTokenRequest.newBuilder().setAccessToken(accessToken);
    if (newPayload != null) {
      request.setNewAccessTokenPayload(Json.toStruct(newPayload));
    }
    RegenerateAccessTokenResponse response = call().regenerateAccessToken(request.build());
    return new RegenerateResult(
        Status.of(response.getStatus()),
        response.getMessage(),
        response.getSession().getSessionHandle(),
        response.getSession().getUserId(),
        Json.toMap(response.getSession().getUserDataInJwt()),
        response.hasAccessToken() ? Optional.of(tokenInfo(response.getAccessToken())) : Optional.empty());
  }

  // -- claims -----------------------------------------------------------------------------------

  /** Stores {@code value} as the primitive claim {@code key} ({"v": value, "t": now}). */
  public StatusResult setClaimValue(String sessionHandle, String key, Object value) {
    var response = call().setClaimValue(SetClaimValueRequest.newBuilder()
        .setSessionHandle(sessionHandle).setClaimKey(key).setValue(Json.toValue(value)).build());
    return new StatusResult(Status.of(response.getStatus()), response.getMessage());
  }

  /** The value of the claim {@code key}. */
  public ClaimValueResult getClaimValue(String sessionHandle, String key) {
    var response = call().getClaimValue(
        GetClaimValueRequest.newBuilder().setSessionHandle(sessionHandle).setClaimKey(key).build());
    return new ClaimValueResult(
        Status.of(response.getStatus()),
        response.getMessage(),
        response.hasValue() ? Optional.ofNullable(Json.toJava(response.getValue())) : Optional.empty());
  }

  /** Removes the claim {@code key} from the stored payload. */
  public StatusResult removeClaim(String sessionHandle, String key) {
    var response = call().removeClaim(
        RemoveClaimRequest.newBuilder().setSessionHandle(sessionHandle).setClaimKey(key).build());
    return new StatusResult(Status.of(response.getStatus()), response.getMessage());
  }

  /** Runs validators against the stored payload; with {@code override}, only these run. */
  public ClaimsValidationResult validateClaimsForSessionHandle(
      String sessionHandle, List<ClaimValidator> validators, boolean override) {
    var response = call().validateClaimsForSessionHandle(ValidateClaimsForSessionHandleRequest.newBuilder()
        .setSessionHandle(sessionHandle)
        .addAllClaimValidators(validators)
        .setOverrideGlobalClaimValidators(override)
        .build());
    return new ClaimsValidationResult(
        Status.of(response.getStatus()), response.getMessage(), claimErrors(response.getInvalidClaimsList()));
  }

  /**
   * FetchAndSetClaim (SDK fetch_and_set_claim): fetches the value of a claim the service's claims
   * module defines and merges it into the stored payload. OK or SESSION_DOES_NOT_EXIST; a key the
   * module does not define is INVALID_ARGUMENT.
   */
  public StatusResult fetchAndSetClaim(String sessionHandle, String key) {
    var response = call().fetchAndSetClaim(
        FetchAndSetClaimRequest.newBuilder().setSessionHandle(sessionHandle).setClaimKey(key).build());
    return new StatusResult(Status.of(response.getStatus()), response.getMessage());
  }

  /**
   * ValidateClaimsInJwtPayload (SDK validate_claims_in_jwt_payload): validators against a payload
   * the caller verified itself; nothing is fetched or stored. OK or INVALID_CLAIMS.
   */
  public ClaimsValidationResult validateClaimsInJwtPayload(
      String userId, Map<String, ?> jwtPayload, List<ClaimValidator> validators, boolean override) {
    var request = ValidateClaimsInJwtPayloadRequest.newBuilder()
        .setUserId(userId)
        .addAllClaimValidators(validators)
        .setOverrideGlobalClaimValidators(override);
    if (jwtPayload != null) {
      request.setJwtPayload(Json.toStruct(jwtPayload));
    }
    var response = call().validateClaimsInJwtPayload(request.build());
    return new ClaimsValidationResult(
        Status.of(response.getStatus()), response.getMessage(), claimErrors(response.getInvalidClaimsList()));
  }

  // -- JWTs -------------------------------------------------------------------------------------

  /** The core's public signing keys (dynamic keys newest first, then static keys). */
  public JwksResult getJwks() {
    var response = call().getJWKS(GetJWKSRequest.getDefaultInstance());
    return new JwksResult(
        Status.ofSingleOutcome(response.getStatus()),
        response.getKeysList().stream()
            .map(k -> new JsonWebKey(k.getKty(), k.getKid(), k.getN(), k.getE(), k.getAlg(), k.getUse()))
            .toList());
  }

  /** Signs {@code payload} with the static key for {@code validity} (whole seconds, > 0). */
  public CreateJwtResult createJwt(Map<String, ?> payload, Duration validity) {
    var request = CreateJWTRequest.newBuilder().setValiditySeconds(validity.toSeconds());
    if (payload != null) {
      request.setPayload(Json.toStruct(payload));
    }
    return createJwt(request.build());
  }

  /** CreateJWT (SDK create_jwt): RS256; iat and exp set by the core, iss defaulting to the issuer. */
  public CreateJwtResult createJwt(CreateJWTRequest request) {
    var response = call().createJWT(request);
    return new CreateJwtResult(Status.of(response.getStatus()), response.getMessage(), response.getJwt());
  }

  /** The issuer and the JWKS URI. */
  public OpenIdConfiguration getOpenIdDiscoveryConfiguration() {
    var response = call().getOpenIdDiscoveryConfiguration(GetOpenIdDiscoveryConfigurationRequest.getDefaultInstance());
    return new OpenIdConfiguration(Status.ofSingleOutcome(response.getStatus()), response.getIssuer(), response.getJwksUri());
  }

  // -- health -----------------------------------------------------------------------------------

  /**
   * grpc.health.v1 Check for the whole server: SERVING once the session core answers,
   * NOT_SERVING while it does not or while the service shuts down.
   */
  public ServingStatus health() {
    return HealthGrpc.newBlockingStub(channel)
        .withDeadlineAfter(timeout.toNanos(), NANOSECONDS)
        .check(HealthCheckRequest.getDefaultInstance())
        .getStatus();
  }

  /**
   * Returns once the service reports SERVING on grpc.health.v1 Watch, waiting for the connection
   * while the service starts. Throws DEADLINE_EXCEEDED after {@code within}, and CANCELLED when
   * the current gRPC {@link Context} is cancelled.
   */
  public void waitForServing(Duration within) {
    Deadline deadline = Deadline.after(within.toNanos(), NANOSECONDS);
    long pauseMillis = 50;
    while (true) {
      try {
        if (watchUntilServing(deadline)) {
          return;
        }
      } catch (StatusRuntimeException e) {
        Code code = e.getStatus().getCode();
        if (code == Code.DEADLINE_EXCEEDED || code == Code.UNIMPLEMENTED || Context.current().isCancelled()) {
          throw e;
        }
      }
      // The stream broke (e.g. the service restarted): watch again after a short pause, so a
      // server that refuses at once is not called in a tight loop.
      long left = deadline.timeRemaining(MILLISECONDS);
      if (left <= 0) {
        throw io.grpc.Status.DEADLINE_EXCEEDED.withDescription("not SERVING").asRuntimeException();
      }
      try {
        Thread.sleep(Math.min(pauseMillis, left));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw io.grpc.Status.CANCELLED.withCause(e).asRuntimeException();
      }
      pauseMillis = Math.min(pauseMillis * 2, 1000);
    }
  }

  private boolean watchUntilServing(Deadline deadline) {
    Context.CancellableContext watch = Context.current().withCancellation();
    Context previous = watch.attach();
    try {
      Iterator<HealthCheckResponse> updates = HealthGrpc.newBlockingStub(channel)
          .withWaitForReady()
          .withDeadline(deadline)
          .watch(HealthCheckRequest.getDefaultInstance());
      while (updates.hasNext()) {
        if (updates.next().getStatus() == ServingStatus.SERVING) {
          return true;
        }
      }
      return false;
    } finally {
      watch.detach(previous);
      watch.cancel(null);
    }
  }

  // -- conversions ------------------------------------------------------------------------------

  private static TokenInfo tokenInfo(sessionservice.session.v1.TokenInfo token) {
    return new TokenInfo(token.getToken(), Instant.ofEpochMilli(token.getExpiry()), Instant.ofEpochMilli(token.getCreatedTime()));
  }

  private static Session session(sessionservice.session.v1.Session session) {
    return new Session(
        session.getUserId(),
        session.getSessionHandle(),
        Json.toMap(session.getAccessTokenPayload()),
        Instant.ofEpochMilli(session.getExpiry()),
        session.getFrontToken(),
        session.getAccessToken());
  }

  private static List<ClaimValidationError> claimErrors(List<sessionservice.session.v1.ClaimValidationError> errors) {
    return errors.stream()
        .map(e -> new ClaimValidationError(e.getId(), e.hasReason() ? Optional.of(Json.toMap(e.getReason())) : Optional.empty()))
        .toList();
  }
}
