// The article's MCP App on `/mcp/crm`, shown as a host shows it: a page of the test's own
// (apps-host.mjs, bundled) uses the extension's host-side package (`AppBridge`) and the
// TypeScript SDK's client to find the app through its tool, read it, and frame it sandboxed under
// the default policy. In the frame the app shows the tool's result; it creates a project
// through the host (which calls the server), and asks the host to send a message.
//
//   node apps.mjs <base-url> <api-key> <apps-host.js>
import { browser, finish, step } from "./harness.mjs";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const [base, key, bundle] = process.argv.slice(2);

// The host page is served on the app's own origin (so that its requests to the mount are
// same-origin), by the browser's request interception: the app itself has no such route.
const page = await browser.newPage();
const errors = [];
page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
page.on("pageerror", (e) => errors.push(String(e)));
await page.route(`${base}/test-host/host.html`, (route) => route.fulfill({
  contentType: "text/html",
  body: '<!DOCTYPE html><html><head><meta charset="utf-8"><title>host</title></head>' +
    '<body><script type="module" src="host.js"></script></body></html>',
}));
await page.route(`${base}/test-host/host.js`, (route) => route.fulfill({
  contentType: "text/javascript",
  body: readFileSync(bundle, "utf8"),
}));

const app = page.frameLocator("iframe");
const names = () => app.locator("#projects li .name").allTextContents();

await step("the host finds the app through its tool and frames it with the tool's result", async () => {
  await page.goto(`${base}/test-host/host.html#${encodeURIComponent(`/mcp/crm|${key}`)}`);
  await page.waitForFunction(() => document.body.dataset.initialized || document.body.dataset.error);
  assert.equal(await page.evaluate(() => document.body.dataset.error), undefined);
  assert.equal(await page.evaluate(() => document.body.dataset.tool), "list_projects");
  assert.equal(await page.evaluate(() => document.body.dataset.uri), "ui://crm/projects");
  assert.equal(await page.evaluate(() => document.body.dataset.prefersBorder), "true");
  await app.locator("#projects li").first().waitFor();
  const shown = await names();
  assert.ok(shown.includes("Mobile app") && shown.includes("Website relaunch"), shown.join(", "));
});

await step("the app creates a project through the host, and shows it", async () => {
  await app.locator("#name").fill("Made in the app");
  await app.locator("#create").click();
  await app.locator("#projects li .name", { hasText: "Made in the app" }).waitFor();
  // The server has it: the REST API lists it for the same key.
  const res = await fetch(`${base}/api/v1/projects`, { headers: { "x-api-key": key } });
  const projects = await res.json();
  assert.ok(projects.some((p) => p.name === "Made in the app"), JSON.stringify(projects));
});

await step("the app asks the host to send a message about a project", async () => {
  await app.locator("#projects li", { hasText: "Mobile app" }).locator("button.ask").click();
  await page.waitForFunction(() => window.messages.length > 0);
  const [message] = await page.evaluate(() => window.messages);
  assert.equal(message.role, "user");
  assert.match(message.content[0].text, /Summarise the project "Mobile app"/);
  assert.deepEqual(errors, []);
});

await finish();
