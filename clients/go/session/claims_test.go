package session_test

// Claims the service fetches: a service of its own with the claims module of
// clients/testdata/client_test_claims.py (plan comes from user_context, roles from a counter).

import (
	"encoding/json"
	"strings"
	"testing"

	"sessionservice/session"

	"google.golang.org/grpc/codes"
)

func payloadOf(t *testing.T, token string) session.JSON {
	t.Helper()
	var payload session.JSON
	if err := json.Unmarshal(mustDecode(t, strings.Split(token, ".")[1]), &payload); err != nil {
		t.Fatal(err)
	}
	return payload
}

func TestFetchedClaims(t *testing.T) {
	t.Parallel()
	s := serviceFor(t, nil, "--claims-module", "client_test_claims")
	client := session.NewClient(dialFor(t, s.Address, nil))
	ctx := callContext(t)

	// GetSession fetches a missing value and answers with a new access token that carries it.
	created := create(t, client, userID(t), nil)
	validators := []session.ClaimValidator{session.Includes("roles", "admin")}
	fetched := get(t, client, created.Session.AccessToken, &session.GetSessionOptions{ClaimValidators: validators})
	expectStatus(t, "GetSession with a claim to fetch", fetched.Status, session.StatusOK)
	if fetched.NewAccessToken == nil || fetched.NewAccessToken.Token != fetched.Session.AccessToken {
		t.Fatalf("a fetched claim means a new access token: %+v", fetched)
	}
	roles, _ := payloadOf(t, fetched.NewAccessToken.Token)["roles"].(map[string]any)
	if list, _ := roles["v"].([]any); len(list) != 2 || list[0] != "admin" {
		t.Fatalf("roles in the new token: %v", roles)
	}
	again := get(t, client, fetched.NewAccessToken.Token, &session.GetSessionOptions{ClaimValidators: validators})
	if again.Status != session.StatusOK || again.NewAccessToken != nil {
		t.Fatalf("the new token carries the value, so nothing is fetched: %+v", again)
	}

	// FetchAndSetClaim stores what fetch_value finds for the user_context.
	handle := created.Session.SessionHandle
	set, err := client.FetchAndSetClaim(session.WithUserContext(ctx, session.JSON{"plan": "pro"}), handle, "plan")
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "FetchAndSetClaim", set.Status, session.StatusOK)
	info, err := client.GetSessionInformation(ctx, handle)
	if err != nil {
		t.Fatal(err)
	}
	if plan, _ := info.Info.CustomClaimsInAccessTokenPayload["plan"].(map[string]any); plan["v"] != "pro" {
		t.Fatalf("the stored plan: %v", info.Info.CustomClaimsInAccessTokenPayload)
	}
	unknown, err := client.FetchAndSetClaim(ctx, "no-such-handle", "plan")
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "FetchAndSetClaim of an unknown session", unknown.Status, session.StatusSessionDoesNotExist)
	_, err = client.FetchAndSetClaim(ctx, handle, "undefined-claim")
	expectCode(t, "FetchAndSetClaim of a claim the module does not define", err, codes.InvalidArgument)

	// ValidateClaimsForSessionHandle fetches; ValidateClaimsInJwtPayload only checks.
	other := create(t, client, userID(t), nil)
	team := []session.ClaimValidator{session.HasValue("plan", "team")}
	teamContext := session.WithUserContext(ctx, session.JSON{"plan": "team"})
	byHandle, err := client.ValidateClaimsForSessionHandle(teamContext, other.Session.SessionHandle, team, false)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "ValidateClaimsForSessionHandle with a fetch", byHandle.Status, session.StatusOK)
	inPayload, err := client.ValidateClaimsInJwtPayload(teamContext, other.Session.UserID, payloadOf(t, other.Session.AccessToken), team, false)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "ValidateClaimsInJwtPayload of the old payload", inPayload.Status, session.StatusInvalidClaims)
	if len(inPayload.InvalidClaims) != 1 || inPayload.InvalidClaims[0].ID != "plan" || inPayload.InvalidClaims[0].Reason["message"] != "value does not exist" {
		t.Fatalf("invalid claims: %+v", inPayload.InvalidClaims)
	}

	_, err = client.CreateSession(session.WithUserContext(ctx, session.JSON{"when": struct{}{}}), userID(t), nil)
	if err == nil || !strings.Contains(err.Error(), "the user context is not a JSON object") {
		t.Fatalf("a user context that is not JSON: %v", err)
	}
}
