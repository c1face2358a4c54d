/** The iptables backend's fixtures (test/fixtures/iptables), shared by its unit and e2e tests. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Family } from "../../src/addr.ts";
import type { ApplyOptions } from "../../src/backends/backend.ts";
import type { IptFamilyState, IptState } from "../../src/backends/ipt/layout.ts";
import { planIpt, planRules } from "../../src/backends/ipt/plan.ts";
import { renderIptables, type IptRender } from "../../src/backends/ipt/render.ts";
import { combineFamilies, parseIptablesSave } from "../../src/backends/ipt/save.ts";
import type { Host, PlannedHost } from "../../src/model.ts";
import { planCounters } from "../../src/plan.ts";

export const IPT_FIXTURES = join(import.meta.dir, "../fixtures/iptables");
export const SAVES = join(IPT_FIXTURES, "saves");
export const CASES = join(IPT_FIXTURES, "cases");

/** A captured `ip(6)tables-legacy-save -c -t mangle`: `saves/<name>.v4.save` / `.v6.save`. */
export const save = (name: string, f: Family) => readFileSync(join(SAVES, `${name}.${f === 4 ? "v4" : "v6"}.save`), "utf8");

export function loadState(name: string, families: Family[] = [4, 6]): IptState {
  const fams: Partial<Record<Family, IptFamilyState>> = {};
  for (const f of families) fams[f] = parseIptablesSave(save(name, f), f);
  return combineFamilies(fams);
}

/** What the core does with desired hosts: counters planned against `current` (a full read). */
export function planned(current: IptState, desired: Host[]): PlannedHost[] {
  const p = planCounters(current, desired);
  if (!p) throw new Error("an iptables read is always full");
  return p;
}

/** The restore inputs that bring `current` to `desired`, as the backend plans and renders them. */
export function renderFor(current: IptState, desired: Host[], opts: ApplyOptions, families: Family[] = [4, 6]): IptRender {
  return renderIptables(planIpt(current, planned(current, desired), opts, families));
}

/** `cases/<name>/case.json`: a captured state, the desired hosts, and whether it is an init. */
export interface IptCase {
  about: string;
  current: string;
  rebuild: boolean;
  families?: Family[];
  desired: Host[];
}

export const caseNames = () => readdirSync(CASES).sort();
export const readCase = (name: string) => JSON.parse(readFileSync(join(CASES, name, "case.json"), "utf8")) as IptCase;
export const readExpected = (name: string, file: string) => readFileSync(join(CASES, name, file), "utf8");

/** Per host, the counters its planned rules start from: what status shows right after the apply. */
export function plannedTotals(c: IptCase) {
  const families = c.families ?? [4, 6];
  const current = loadState(c.current, families);
  const rules = planRules(current, planned(current, c.desired), families);
  return c.desired.map((h) => {
    const mine = rules.filter((r) => r.name === h.name);
    const sum = (dir: "rx" | "tx", k: "packets" | "bytes") => mine.filter((r) => r.dir === dir).reduce((a, r) => a + r[k], 0);
    return {
      key: h.key,
      name: h.name,
      addresses: h.addresses.filter((a) => families.includes(a.includes(":") ? 6 : 4)),
      rx: { packets: sum("rx", "packets"), bytes: sum("rx", "bytes") },
      tx: { packets: sum("tx", "packets"), bytes: sum("tx", "bytes") },
    };
  });
}
