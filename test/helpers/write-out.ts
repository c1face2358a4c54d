/** Writes `n` bytes through realSys.stdout, then says so on stderr (test/unit/sys-out.test.ts). */
import { realSys } from "../../src/sys.ts";

const n = Number(process.argv[2]);
realSys.stdout("x".repeat(n - 1) + "\n");
realSys.stderr("done\n");
