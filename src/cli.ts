import { main } from "./main.ts";
import { realSys } from "./sys.ts";

// The exit code is set, not forced: stdout and stderr drain before the process ends.
main(process.argv.slice(2), realSys).then((code) => {
  process.exitCode = code;
});
