// A server written with the official TypeScript SDK (Streamable HTTP, sessions): the remote that
// the article app's `/mcp/remote` proxies in CI. Tools (one asks the user), a resource, a prompt.
// Usage: node ts-server.mjs   (prints "listening on http://127.0.0.1:<port>/mcp")
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

function build() {
  const server = new McpServer({ name: 'ts-sdk-server', version: '1.0.0' });
  server.registerTool(
    'add',
    { description: 'Add two numbers.', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
  );
  server.registerTool('ask_color', { description: 'Ask the user their colour.', inputSchema: {} }, async () => {
    const answer = await server.server.elicitInput({
      message: 'Favourite colour?',
      requestedSchema: { type: 'object', properties: { color: { type: 'string' } }, required: ['color'] },
    });
    const text = answer.action === 'accept' ? `likes ${answer.content.color}` : 'no answer';
    return { content: [{ type: 'text', text }] };
  });
  server.registerResource('note', 'note://hello', { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, text: 'hello from the TypeScript SDK' }],
  }));
  server.registerPrompt('haiku', { description: 'A haiku.', argsSchema: { topic: z.string() } }, ({ topic }) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `Write a haiku about ${topic}` } }],
  }));
  return server;
}

const transports = {};
const httpServer = http.createServer(async (req, res) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  const parsed = body ? JSON.parse(body) : undefined;
  const sid = req.headers['mcp-session-id'];
  let transport = sid ? transports[sid] : undefined;
  if (!transport) {
    if (req.method !== 'POST' || !isInitializeRequest(parsed)) {
      res.writeHead(sid ? 404 : 400).end();
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        transports[id] = transport;
      },
    });
    await build().connect(transport);
  }
  await transport.handleRequest(req, res, parsed);
});
httpServer.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}/mcp`);
});
