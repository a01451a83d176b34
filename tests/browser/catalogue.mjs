// The catalogue page of example-article in headless Chromium: it loads with no console errors,
// lists each mount's tools, refuses without credentials and lists with them, fills and calls
// `create_project` with the demo key and shows the result, shows scopes, and renders a hostile
// description as text. Writes a screenshot for people to look at.
//
//   node catalogue.mjs <base-url> <api-key> <screenshot.png>
import { browser, finish, step } from "./harness.mjs";
import assert from "node:assert/strict";

const [base, key, screenshot] = process.argv.slice(2);

/** A page that records console errors and uncaught exceptions. */
async function open(path) {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(base + path);
  return { page, errors };
}

const cards = (page) => page.locator(".card.tool h3").evaluateAll((hs) => hs.map((h) => h.firstChild.textContent));

await step("the API Tools page lists get_status and calls it, with no console errors", async () => {
  const { page, errors } = await open("/mcp");
  await page.locator("#tool-get_status").waitFor();
  assert.equal(await page.locator("#name").textContent(), "API Tools");
  assert.deepEqual(await cards(page), ["get_status"]);
  await page.locator("#tool-get_status button[type=submit]").click();
  await page.locator("#tool-get_status .result").waitFor();
  assert.equal(await page.locator("#tool-get_status pre.result").textContent(), "All systems operational");
  assert.deepEqual(errors, []);
  await page.close();
});

await step("the CRM page refuses without a key, lists with it, and calls create_project", async () => {
  const { page, errors } = await open("/mcp/crm");
  await page.locator("#banner pre.error").waitFor();
  assert.match(await page.locator("#banner").textContent(), /needs credentials/);
  // The only errors so far: Chromium's report of the refused requests themselves.
  assert.ok(errors.length > 0 && errors.every((e) => /status of 401/.test(e)), errors.join("\n"));
  errors.length = 0;

  const [name, value] = await page.locator("#rows .row input").all();
  await name.fill("x-api-key");
  await value.fill(key);
  await page.locator("#reload").click();
  await page.locator("#tool-create_project").waitFor();
  assert.deepEqual((await cards(page)).sort(),
    ["create_project", "delete_project", "export_projects", "list_projects", "search_documents"]);
  assert.match(await page.locator("#tool-delete_project").textContent(), /destructive/);
  assert.match(await page.locator("#templates").textContent(), /crm:\/\/projects\/\{/);
  assert.ok(await page.locator("#prompts .card").count() > 0, "the prompts are listed");

  const form = page.locator("#tool-create_project form");
  await form.locator("[name=name]").fill("Made in Chromium");
  await form.locator("[name=description]").fill("created from the catalogue page");
  await form.locator("button[type=submit]").click();
  const result = page.locator("#tool-create_project pre.result");
  await result.waitFor();
  const text = await result.textContent();
  assert.match(text, /Made in Chromium/);
  assert.doesNotMatch(await result.getAttribute("class"), /error/, text);
  // The project is really there: listed by another tool of the page.
  await page.locator("#tool-list_projects button[type=submit]").click();
  await page.locator("#tool-list_projects pre.result").waitFor();
  assert.match(await page.locator("#tool-list_projects pre.result").textContent(), /Made in Chromium/);
  assert.deepEqual(errors, []);
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.close();
});

await step("the page gives client configurations with the mount's URL and header names, never values", async () => {
  const { page, errors } = await page_with_key("/mcp/crm");
  await page.locator("#tool-create_project").waitFor();
  const text = await page.locator("#connect").textContent();
  assert.match(text, new RegExp(`"url": "${base}/mcp/crm"`));
  assert.match(text, /"mcpServers"/);
  assert.match(text, /"servers"/);
  assert.match(text, /"x-api-key": "\$\{X_API_KEY\}"/);
  assert.match(text, /claude mcp add --transport http crm-tools/);
  assert.doesNotMatch(text, new RegExp(key), "the key's value is not in the configurations");
  const config = JSON.parse(await page.locator("#connect pre.config").first().textContent());
  assert.equal(config.mcpServers["crm-tools"].type, "http");
  // The link to the mount's server card, which leads to the card.
  const link = page.locator("#card-link a");
  await link.waitFor();
  assert.equal(await link.getAttribute("href"), "/mcp/crm/server-card");
  const card = await page.evaluate(async (href) => (await fetch(href)).json(), await link.getAttribute("href"));
  assert.equal(card.remotes[0].url, `${base}/mcp/crm`);
  assert.equal(card.remotes[0].headers[0].name, "x-api-key");
  assert.deepEqual(errors, []);
  await page.close();
});

await step("the Slack page shows the scope a tool needs", async () => {
  const { page, errors } = await page_with_key("/mcp/slack");
  await page.locator("#tool-post_message").waitFor();
  assert.match(await page.locator("#tool-post_message").textContent(), /scope: chat:write/);
  assert.deepEqual(errors, []);
  await page.close();
});

async function page_with_key(path) {
  const page = await browser.newPage();
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  // The headers typed earlier in a tab are kept for it (sessionStorage).
  await page.addInitScript(([path, key]) => {
    sessionStorage.setItem("mcp-headers:" + path, JSON.stringify([["x-api-key", key]]));
  }, [path, key]);
  await page.goto(base + path);
  return { page, errors };
}

await step("a hostile tool description is shown as text, never run", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const hostile = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;
  await page.route("**/mcp", async (route) => {
    const req = route.request();
    const body = req.method() === "POST" ? req.postDataJSON() : null;
    if (!body || body.method !== "tools/list") return route.continue();
    await route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({
      jsonrpc: "2.0", id: body.id, result: { resultType: "complete", tools: [{
        name: "evil", title: `<b>bold</b>`, description: hostile,
        inputSchema: { type: "object", properties: { ["<i>x</i>"]: { type: "string", description: hostile } } },
      }] } }) });
  });
  await page.goto(base + "/mcp");
  await page.locator("#tool-evil").waitFor();
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.locator("#tool-evil .desc").textContent(), hostile);
  assert.equal(await page.locator("#tool-evil img, #tool-evil script, #tool-evil b, #tool-evil i").count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});

await finish();
console.log(`screenshot: ${screenshot}`);
