// The official TypeScript SDK client against a gateway, over streamable HTTP.
// Usage: node client.mjs URL TOKEN. Prints one JSON object on stdout; errors go to stderr.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "mcpkit-e2e-ts", version: "1.0.0" });
await client.connect(transport);
const tools = await client.listTools();
const call = await client.callTool({
  name: "get_current_time",
  arguments: { timezone: "Asia/Tokyo" },
});
const report = {
  protocolVersion: transport.protocolVersion ?? null,
  sessionId: transport.sessionId ?? null,
  server: client.getServerVersion() ?? null,
  tools: tools.tools.map((tool) => tool.name),
  isError: call.isError ?? false,
  structuredContent: call.structuredContent ?? null,
  content: call.content,
};
await transport.terminateSession();
await client.close();
process.stdout.write(JSON.stringify(report) + "\n");
