// The page's script, bundled by esbuild: the official frontend SDK, initialised as an app
// would, for the token transfer method in the page's query (?mode=cookie|header). Its fetch
// interceptor adds the session to every call to this origin and refreshes on a 401 by itself.
import SuperTokens from "supertokens-website";

const mode = new URLSearchParams(window.location.search).get("mode") || "cookie";
SuperTokens.init({
  apiDomain: window.location.origin,
  apiBasePath: "/auth",
  tokenTransferMethod: mode,
});

async function call(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

// What the driver calls (tests/browser/drive.js, through page.evaluate).
window.app = {
  mode,
  signIn: (userId, roles) => call("POST", "/auth/signin", { userId, roles }),
  get: (path) => call("GET", path),
  post: (path, body) => call("POST", path, body),
  sessionExists: () => SuperTokens.doesSessionExist(),
  userId: () => SuperTokens.getUserId(),
  signOut: () => SuperTokens.signOut(),
};
