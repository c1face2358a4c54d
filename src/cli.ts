import { main } from "./main.ts";
import { realSys } from "./sys.ts";

// No top-level await: the --bytecode build is CommonJS.
main(process.argv.slice(2), realSys).then((code) => {
  process.exitCode = code;
});
