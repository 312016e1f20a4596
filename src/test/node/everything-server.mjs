// Starts @modelcontextprotocol/server-everything (its own bin entry) in the mode given as the first
// argument (streamableHttp | sse), bound to 127.0.0.1 only, on the port in PORT (0 = any free one).
// The server itself listens on every interface and says nothing machine-readable about its port, so
// this launcher pins the host on the server's listen call and, once it listens, writes the port to
// the file named by MCPMETER_PORT_FILE (written aside and renamed, so a reader never sees half).
import net from "node:net";
import { renameSync, writeFileSync } from "node:fs";

const mode = process.argv[2];
if (mode !== "streamableHttp" && mode !== "sse") {
  console.error(`usage: node everything-server.mjs streamableHttp|sse (got ${mode})`);
  process.exit(2);
}
const portFile = process.env.MCPMETER_PORT_FILE;

const originalListen = net.Server.prototype.listen;
let patched = true;
net.Server.prototype.listen = function (...args) {
  if (!patched) {
    return originalListen.apply(this, args);
  }
  patched = false; // only the server's own HTTP listener is pinned
  const callback = typeof args[args.length - 1] === "function" ? args.pop() : undefined;
  const first = args[0];
  const port = typeof first === "object" && first !== null ? Number(first.port ?? 0) : Number(first ?? 0);
  this.once("listening", () => {
    const address = this.address();
    if (portFile) {
      writeFileSync(portFile + ".tmp", String(address.port));
      renameSync(portFile + ".tmp", portFile);
    }
    console.error(`everything-server (${mode}) listening on ${address.address}:${address.port}`);
  });
  return originalListen.call(this, { port, host: "127.0.0.1" }, callback);
};

// The package's bin reads its mode from process.argv[2], which is where ours already is.
await import("@modelcontextprotocol/server-everything/dist/index.js");
