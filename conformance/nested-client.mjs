// The official TypeScript SDK's client uses the article app's `/mcp/all` (the CRM and Slack
// servers nested under `crm` and `slack`) over Streamable HTTP with an API key: lists, calls,
// resources at their nested URIs, a prompt and a completion, each answered by its part.
// Usage: node nested-client.mjs <url of /mcp/all> <api key>
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { check } from './check.mjs';

const [url, key] = process.argv.slice(2);

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { 'x-api-key': key } },
});
const client = new Client({ name: 'nested-check', version: '1.0.0' });
await client.connect(transport);
check(client.getServerVersion()?.name === 'All Tools', 'initializes with the whole server');

const { tools } = await client.listTools();
const names = tools.map((t) => t.name);
for (const name of ['crm_list_projects', 'crm_create_project', 'slack_list_channels', 'slack_post_message']) {
  check(names.includes(name), `lists ${name}`);
}
const projects = await client.callTool({ name: 'crm_list_projects', arguments: {} });
check(projects.content[0].text.includes('Website relaunch'), 'calls crm_list_projects');
const channels = await client.callTool({ name: 'slack_list_channels', arguments: {} });
check(!channels.isError && channels.content.length > 0, 'calls slack_list_channels');

const { resourceTemplates } = await client.listResourceTemplates();
check(
  resourceTemplates.some((t) => t.uriTemplate === 'crm://crm/projects/{id}'),
  'lists the CRM template at its nested URI',
);
const read = await client.readResource({ uri: 'crm://crm/projects/1' });
check(
  read.contents[0].uri === 'crm://crm/projects/1' && read.contents[0].text.includes('Website relaunch'),
  'reads a CRM project at its nested URI',
);
const prompt = await client.getPrompt({ name: 'crm_project_brief', arguments: { project_id: '1' } });
const embedded = prompt.messages.find((m) => m.content.type === 'resource');
check(
  embedded && embedded.content.resource.uri === 'crm://crm/projects/1',
  'gets crm_project_brief, its embedded project at the nested URI',
);
const done = await client.complete({
  ref: { type: 'ref/prompt', name: 'crm_project_brief' },
  argument: { name: 'project_id', value: '' },
});
check(done.completion.values.includes('1'), `completes project_id: ${JSON.stringify(done.completion.values)}`);
await client.close();
