// The page's script, bundled by esbuild: the official frontend SDK, initialised as an app
// would, for the token transfer method in the page's query (?mode=cookie|header). Its fetch
// interceptor adds the session to every call to this origin and refreshes on a 401 by itself.
import SuperTokens from "supertokens-website";

const mode = new URLSearchParams(window.location.search).get("mode") || "cookie";

// Every request the page makes, the SDK's own (refresh, sign-out) included: the SDK wraps the
// fetch it finds at init, so this wrapper sees what reaches the network, in order, before the
// call that caused it returns.
const network = [];
const networkFetch = window.fetch.bind(window);
window.fetch = async (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input), window.location.href);
  const method = ((init && init.method) || (input instanceof Request ? input.method : "GET")).toUpperCase();
  const response = await networkFetch(input, init);
  network.push({ method, path: url.pathname, status: response.status });
  return response;
};

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
  takeNetwork: () => network.splice(0),
};
