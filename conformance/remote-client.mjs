// The official TypeScript SDK's client uses the article app's `/mcp/remote`, which proxies a
// server written with the same SDK (ts-server.mjs): lists, a call, a resource, a prompt, and
// the remote's question answered by this client through the proxy.
// Usage: node remote-client.mjs <url of /mcp/remote> <api key>
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { check } from './check.mjs';

const [url, key] = process.argv.slice(2);

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { 'x-api-key': key } },
});
const client = new Client({ name: 'remote-check', version: '1.0.0' }, { capabilities: { elicitation: {} } });
const asked = [];
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  asked.push(request.params.message);
  return { action: 'accept', content: { color: 'blue' } };
});
await client.connect(transport);

let names = [];
for (let i = 0; i < 100 && !names.includes('add'); i++) {
  names = (await client.listTools()).tools.map((t) => t.name);
  if (!names.includes('add')) await new Promise((r) => setTimeout(r, 100));
}
check(names.includes('add') && names.includes('ask_color'), `lists the remote's tools ${JSON.stringify(names)}`);
const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
check(sum.content[0].text === '5', 'calls the remote tool add');
const note = await client.readResource({ uri: 'note://hello' });
check(note.contents[0].text === 'hello from the TypeScript SDK', 'reads the remote resource');
const prompt = await client.getPrompt({ name: 'haiku', arguments: { topic: 'rust' } });
check(prompt.messages[0].content.text === 'Write a haiku about rust', 'gets the remote prompt');
const color = await client.callTool({ name: 'ask_color', arguments: {} });
check(asked[0] === 'Favourite colour?', `is asked the remote server's question: ${JSON.stringify(color)}`);
check(color.content[0].text === 'likes blue', 'the answer reaches the remote server');
await client.close();
