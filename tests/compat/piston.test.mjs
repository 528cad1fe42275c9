// piston-client 1.0.2 and Piston's WebSocket (with the `ws` package)
// against Monaco's /api/v2. Run by scripts/test-compat.sh with MONACO_URL
// set to the server under test (loopback only).
import { test } from "node:test";
import assert from "node:assert/strict";
import { piston } from "piston-client";
import WebSocket from "ws";

const base = process.env.MONACO_URL;
if (!base) throw new Error("MONACO_URL is not set: run scripts/test-compat.sh");
const host = new URL(base).hostname;
assert.ok(["127.0.0.1", "[::1]", "localhost"].includes(host), `loopback only, not ${host}`);
const client = piston({ server: base });

test("runtimes list Piston's names", async () => {
  const runtimes = await client.runtimes();
  const names = runtimes.map((r) => r.language);
  for (const name of ["python", "java", "c", "c++", "javascript", "go"]) {
    assert.ok(names.includes(name), `${name} in ${names}`);
  }
  const cpp = runtimes.find((r) => r.language === "c++");
  assert.match(cpp.version, /^\d+\.\d+\.\d+$/);
  assert.ok(cpp.aliases.includes("cpp"));
});

test("execute with the client's defaults (text/plain, args 1 2 3, -1 limits)", async () => {
  const result = await client.execute("python", "import sys\nprint(sys.argv[1:])");
  assert.equal(result.language, "python");
  assert.equal(result.run.code, 0, JSON.stringify(result));
  assert.equal(result.run.output, "['1', '2', '3']\n");
  assert.equal(result.compile, undefined);
});

test("a compiled language has its compile stage", async () => {
  const code = '#include <iostream>\nint main(){std::cout << "from c++" << std::endl;}';
  const result = await client.execute("c++", code);
  assert.equal(result.compile.code, 0, JSON.stringify(result));
  assert.equal(result.run.stdout, "from c++\n");
  assert.equal(result.run.signal, null);
});

test("a compile error: run is the failed compile", async () => {
  const result = await client.execute("c", "int main(void) { return missing; }");
  assert.notEqual(result.compile.code, 0, JSON.stringify(result));
  assert.match(result.compile.stderr + result.compile.stdout, /missing/);
  assert.deepEqual(result.run, result.compile);
});

test("a timeout is SIGKILL with status TO", async () => {
  const result = await client.execute("python", "while True:\n    pass", { runTimeout: 1000 });
  assert.equal(result.run.signal, "SIGKILL", JSON.stringify(result));
  assert.equal(result.run.status, "TO");
  assert.equal(result.run.code, null);
});

test("exit 3, a segfault and an abort map to Piston's stage fields", async () => {
  const exit3 = await client.execute("python", "import sys\nsys.exit(3)");
  assert.deepEqual([exit3.run.code, exit3.run.signal, exit3.run.status], [3, null, "RE"], JSON.stringify(exit3));
  // A null pointer the compiler cannot see (a constant one may become a trap).
  const segv = await client.execute("c", "int main(int argc, char **argv) { int *p = (int *)(long)(argc - 1); *p = 1; return 0; }");
  assert.deepEqual([segv.run.code, segv.run.signal, segv.run.status], [null, "SIGSEGV", "SG"], JSON.stringify(segv));
  const abrt = await client.execute("c", "#include <stdlib.h>\nint main(void) { abort(); }");
  assert.deepEqual([abrt.run.code, abrt.run.signal, abrt.run.status], [null, "SIGABRT", "SG"], JSON.stringify(abrt));
});

test("an alias without a version", async () => {
  // The client finds no runtime named "cpp", so it sends no version.
  const result = await client.execute("cpp", "#include <cstdio>\nint main(){std::puts(\"alias\");}");
  assert.equal(result.language, "c++", JSON.stringify(result));
  assert.equal(result.run.stdout, "alias\n");
});

test("an unknown runtime is Piston's message", async () => {
  const result = await client.execute("cobol", "DISPLAY 'HI'.");
  assert.deepEqual(result, { message: "cobol-* runtime is unknown" });
});

/** Opens /api/v2/connect, sends `frames` as they are due, collects every frame until close. */
function session(frames, { onFrame } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/api/v2/connect`);
    const got = [];
    ws.on("open", () => frames.forEach((f) => ws.send(JSON.stringify(f))));
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString());
      got.push(frame);
      if (onFrame) onFrame(frame, ws);
    });
    ws.on("close", (code, reason) => resolve({ frames: got, code, reason: reason.toString() }));
    ws.on("error", reject);
  });
}

const init = (language, code) => ({ type: "init", language, version: "*", files: [{ content: code }] });

test("ws: a round trip with stdin", async () => {
  const { frames, code } = await session([init("python", "print(input()[::-1])"), { type: "data", stream: "stdin", data: "olleh\n" }]);
  assert.equal(code, 4999, JSON.stringify(frames));
  const out = frames.filter((f) => f.type === "data" && f.stream === "stdout").map((f) => f.data).join("");
  assert.equal(out, "hello\n");
  assert.deepEqual(frames.at(-1), { type: "exit", stage: "run", code: 0, signal: null });
});

test("ws: frame order for a compiled language", async () => {
  const { frames, code } = await session([init("c", '#include <stdio.h>\nint main(void){puts("compiled");}')]);
  assert.equal(code, 4999);
  const kinds = frames.filter((f) => f.type !== "data").map((f) => (f.stage ? `${f.type}:${f.stage}` : f.type));
  assert.deepEqual(kinds, ["runtime", "stage:compile", "exit:compile", "stage:run", "exit:run"], JSON.stringify(frames));
  assert.equal(frames[0].language, "c");
  assert.equal(frames.find((f) => f.type === "data" && f.stream === "stdout").data, "compiled\n");
});

test("ws: a kill signal stops the program", async () => {
  const { frames, code } = await session([init("python", "import time\nprint('up', flush=True)\ntime.sleep(60)")], {
    onFrame: (frame, ws) => {
      if (frame.type === "data") ws.send(JSON.stringify({ type: "signal", signal: "SIGKILL" }));
    },
  });
  assert.equal(code, 4999, JSON.stringify(frames));
  const exit = frames.at(-1);
  assert.equal(exit.type, "exit");
  assert.equal(exit.signal, "SIGKILL");
  assert.equal(exit.code, null);
});

test("ws: every close code", async () => {
  const wait = init("python", "import time\ntime.sleep(60)");
  const cases = [
    [[wait, wait], 4000],
    [[], 4001],
    [[init("cobol", "x")], 4002],
    [[{ type: "data", stream: "stdin", data: "x" }], 4003],
    [[wait, { type: "data", stream: "stderr", data: "x" }], 4004],
    [[wait, { type: "signal", signal: "SIGBOGUS" }], 4005],
    [[init("python", "print(1)")], 4999],
  ];
  for (const [frames, want] of cases) {
    const got = await session(frames);
    assert.equal(got.code, want, `${JSON.stringify(frames)} → ${JSON.stringify(got)}`);
    if (want === 4002) assert.equal(got.frames.at(-1).type, "error");
  }
});
