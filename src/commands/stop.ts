import { runtimeCommand } from "./command.ts";

export const stopCommand = { ...runtimeCommand("stop", "remove everything iptmon created, and nothing else", async () => (await import("../core.ts")).runStop), scripted: true as const };
