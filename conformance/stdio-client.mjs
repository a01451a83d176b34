// The official TypeScript SDK's client runs a server as a child process over stdio, as Claude
// Desktop's `command` servers do, and uses every kind of feature through it: tools (with
// progress and logging), resources, prompts, completions, and a question the server asks.
// Usage: node stdio-client.mjs <server binary> [args…]
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { check } from './check.mjs';

const [command, ...args] = process.argv.slice(2);

const transport = new StdioClientTransport({ command, args, stderr: 'ignore' });
const client = new Client(
  { name: 'stdio-check', version: '1.0.0' },
  { capabilities: { elicitation: {} } },
);
client.setRequestHandler(ElicitRequestSchema, async () => ({
  action: 'accept',
  content: { username: 'ada', email: 'ada@example.com' },
}));
await client.connect(transport);

const { tools } = await client.listTools();
check(tools.some((t) => t.name === 'test_simple_text'), `lists ${tools.length} tools`);
const text = await client.callTool({ name: 'test_simple_text', arguments: {} });
check(text.content[0].text === 'This is a simple text response for testing.', 'calls a tool');

const progress = [];
await client.callTool(
  { name: 'test_tool_with_progress', arguments: {} },
  undefined,
  { onprogress: (p) => progress.push(p.progress) },
);
check(progress.length >= 3, `receives progress ${JSON.stringify(progress)}`);

const logs = [];
client.setNotificationHandler(
  (await import('@modelcontextprotocol/sdk/types.js')).LoggingMessageNotificationSchema,
  (n) => logs.push(n.params.data),
);
await client.setLoggingLevel('info');
await client.callTool({ name: 'test_tool_with_logging', arguments: {} });
check(logs.length >= 3, `receives ${logs.length} log messages`);

const read = await client.readResource({ uri: 'test://static-text' });
check(read.contents[0].text === 'This is the content of the static text resource.', 'reads a resource');
const tpl = await client.readResource({ uri: 'test://template/123/data' });
check(tpl.contents[0].text.includes('123'), 'reads a resource template');
const prompt = await client.getPrompt({
  name: 'test_prompt_with_arguments',
  arguments: { arg1: 'a', arg2: 'b' },
});
check(prompt.messages[0].content.text.includes("arg1='a'"), 'gets a prompt');
const done = await client.complete({
  ref: { type: 'ref/prompt', name: 'test_prompt_with_arguments' },
  argument: { name: 'arg1', value: 'pa' },
});
check(done.completion.values.includes('paris'), 'completes an argument');

const asked = await client.callTool({
  name: 'test_elicitation',
  arguments: { message: 'Who are you?' },
});
check(asked.content[0].text.includes('ada'), 'answers a question the server asks');

await client.close();
console.log('ok: stdio client done');
