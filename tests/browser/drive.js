// Drives the page in Debian's headless Chromium (playwright-core, no browser download) and
// prints one JSON line per step on stdout. `{"wait": "expire"}` asks the test (which owns the
// service's clock) to move past the access token's validity; it answers with a line on stdin.
//   node drive.js <chromium> <page URL>
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [executablePath, pageUrl] = process.argv.slice(2);
const input = createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();
const emit = (record) => process.stdout.write(JSON.stringify(record) + "\n");

async function waitFor(what) {
  emit({ wait: what });
  const answer = await lines.next();
  if (answer.done || answer.value !== "ok") throw new Error(`no answer to ${what}`);
}

const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const step = async (name, action) => {
    const result = await page.evaluate(action);
    const network = await page.evaluate(() => window.app.takeNetwork());
    const cookies = (await context.cookies()).map((cookie) => cookie.name).sort();
    emit({ step: name, result, network, cookies });
  };
  await page.goto(pageUrl);
  await step("load", () => window.app.mode);
  await step("sign-in", () => window.app.signIn("alice", ["reader"]));
  await step("session", async () => ({ exists: await window.app.sessionExists(), userId: await window.app.userId() }));
  await step("protected", () => window.app.get("/api/hello"));
  await step("admin", () => window.app.get("/api/admin/report"));
  await waitFor("expire");
  await step("protected after expiry", () => window.app.post("/api/hello", { n: 1 }));
  await step("sign-out", async () => {
    await window.app.signOut();
    return { exists: await window.app.sessionExists() };
  });
  await step("protected after sign-out", () => window.app.get("/api/hello"));
} finally {
  await browser.close();
  input.close();
}
