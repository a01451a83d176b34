// A host of MCP Apps, as a browser page: bundled by esbuild for apps.mjs. It connects to a mount
// with the TypeScript SDK's client, finds the tool that names an app (`_meta.ui.resourceUri`, read
// with the extension's own helper), reads the app's HTML, calls the tool, and shows the app in a
// sandboxed frame under the extension's default Content-Security-Policy, talking to it through
// the extension's `AppBridge` (which forwards the app's `tools/call` to the server). What the
// app sends as `ui/message` is kept in `window.messages`.
//
// The page's URL: <base>/…/host.html#<mount path>|<api key>
import {
  AppBridge,
  PostMessageTransport,
  RESOURCE_MIME_TYPE,
  getToolUiResourceUri,
} from "@modelcontextprotocol/ext-apps/app-bridge";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

// The policy a host applies when the app's `_meta.ui.csp` names no other origin.
const DEFAULT_CSP = "default-src 'none'; script-src 'self' 'unsafe-inline'; " +
  "style-src 'self' 'unsafe-inline'; img-src 'self' data:; media-src 'self' data:; connect-src 'none';";

const show = (key, value) => { document.body.dataset[key] = value; };
window.messages = [];

async function main() {
  const [mount, key] = decodeURIComponent(location.hash.slice(1)).split("|");
  const client = new Client({ name: "apps-test-host", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(mount, location.href), {
    requestInit: { headers: { "x-api-key": key } },
  }));
  const { tools } = await client.listTools();
  const tool = tools.find((t) => getToolUiResourceUri(t));
  if (!tool) throw new Error("no tool names an app");
  const uri = getToolUiResourceUri(tool);
  show("tool", tool.name);
  show("uri", uri);
  const { contents } = await client.readResource({ uri });
  const page = contents.find((c) => c.mimeType === RESOURCE_MIME_TYPE);
  if (!page) throw new Error(`${uri} has no ${RESOURCE_MIME_TYPE} contents`);
  const csp = page._meta?.ui?.csp;
  if (csp && Object.keys(csp).length) throw new Error("this host applies only the default policy");
  show("prefersBorder", String(page._meta?.ui?.prefersBorder));
  const result = await client.callTool({ name: tool.name, arguments: {} });

  const frame = document.createElement("iframe");
  frame.setAttribute("sandbox", "allow-scripts");
  frame.style.width = "600px";
  frame.style.height = "400px";
  document.body.append(frame);
  const bridge = new AppBridge(
    client,
    { name: "apps-test-host", version: "1.0.0" },
    { openLinks: {}, serverTools: {}, serverResources: {}, message: {} },
    { hostContext: { theme: "light", platform: "web", displayMode: "inline" } },
  );
  bridge.onmessage = async (params) => {
    window.messages.push(params);
    return {};
  };
  bridge.oninitialized = () => {
    show("initialized", "yes");
    bridge.sendToolInput({ arguments: {} });
    bridge.sendToolResult(result);
  };
  await bridge.connect(new PostMessageTransport(frame.contentWindow, frame.contentWindow));
  const html = page.text ?? atob(page.blob);
  frame.srcdoc = html.replace(/<head>/i,
    `<head><meta http-equiv="Content-Security-Policy" content="${DEFAULT_CSP}">`);
}

main().catch((e) => show("error", String(e && e.stack || e)));
